SELECT leads.id 
FROM leads 
WHERE coalesce(CASE WHEN (leads.employees < %(high_1)s::INTEGER) THEN %(category_2)s::VARCHAR WHEN (leads.employees >= %(low_3)s::INTEGER AND leads.employees <= %(high_4)s::INTEGER) THEN %(category_5)s::VARCHAR WHEN (leads.employees >= %(low_6)s::INTEGER AND leads.employees <= %(high_7)s::INTEGER) THEN %(category_8)s::VARCHAR WHEN (leads.employees >= %(low_9)s::INTEGER) THEN %(category_10)s::VARCHAR ELSE NULL END IN (%(category_11)s::VARCHAR, %(category_12)s::VARCHAR), false) AND coalesce(CASE WHEN (lower(leads.title COLLATE "C") LIKE %(pattern_13)s::VARCHAR ESCAPE '!' OR lower(leads.title COLLATE "C") LIKE %(pattern_14)s::VARCHAR ESCAPE '!' OR lower(leads.title COLLATE "C") LIKE %(pattern_15)s::VARCHAR ESCAPE '!') THEN %(category_16)s::VARCHAR WHEN (lower(leads.title COLLATE "C") LIKE %(pattern_17)s::VARCHAR ESCAPE '!' OR lower(leads.title COLLATE "C") LIKE %(pattern_18)s::VARCHAR ESCAPE '!' OR lower(leads.title COLLATE "C") LIKE %(pattern_19)s::VARCHAR ESCAPE '!') THEN %(category_20)s::VARCHAR WHEN (leads.title IS NOT NULL) THEN %(category_21)s::VARCHAR ELSE NULL END = %(category_22)s::VARCHAR, false) ORDER BY leads.id
-- parameters:
--   high_1 = 2
--   category_2 = 'tiny'
--   low_3 = 2
--   high_4 = 99
--   category_5 = 'smb'
--   low_6 = 100
--   high_7 = 499
--   category_8 = 'midsize'
--   low_9 = 500
--   category_10 = 'enterprise'
--   category_11 = 'smb'
--   category_12 = 'midsize'
--   pattern_13 = '%社長%'
--   pattern_14 = 'ceo%'
--   pattern_15 = '%chief%'
--   category_16 = 'executive'
--   pattern_17 = '%部長%'
--   pattern_18 = '%manager%'
--   pattern_19 = '100!%!_%'
--   category_20 = 'manager'
--   category_21 = 'staff'
--   category_22 = 'executive'
