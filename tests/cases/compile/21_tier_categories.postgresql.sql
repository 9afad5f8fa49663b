SELECT leads.id 
FROM leads 
WHERE leads.employees >= %(low_1)s::INTEGER OR lower(leads.title COLLATE "C") LIKE %(pattern_2)s::VARCHAR ESCAPE '!' OR lower(leads.title COLLATE "C") LIKE %(pattern_3)s::VARCHAR ESCAPE '!' OR lower(leads.title COLLATE "C") LIKE %(pattern_4)s::VARCHAR ESCAPE '!' OR leads.title IS NOT NULL AND NOT (lower(leads.title COLLATE "C") LIKE %(pattern_5)s::VARCHAR ESCAPE '!' OR lower(leads.title COLLATE "C") LIKE %(pattern_6)s::VARCHAR ESCAPE '!' OR lower(leads.title COLLATE "C") LIKE %(pattern_7)s::VARCHAR ESCAPE '!') OR NOT (leads.employees IS NOT NULL AND leads.employees < %(high_8)s::INTEGER) AND (lower(leads.title COLLATE "C") LIKE %(pattern_9)s::VARCHAR ESCAPE '!' OR lower(leads.title COLLATE "C") LIKE %(pattern_10)s::VARCHAR ESCAPE '!' OR lower(leads.title COLLATE "C") LIKE %(pattern_11)s::VARCHAR ESCAPE '!' OR lower(leads.title COLLATE "C") LIKE %(pattern_12)s::VARCHAR ESCAPE '!' OR lower(leads.title COLLATE "C") LIKE %(pattern_13)s::VARCHAR ESCAPE '!' OR lower(leads.title COLLATE "C") LIKE %(pattern_14)s::VARCHAR ESCAPE '!') ORDER BY leads.id
-- parameters:
--   low_1 = 500
--   pattern_2 = '%社長%'
--   pattern_3 = 'ceo%'
--   pattern_4 = '%chief%'
--   pattern_5 = '%部長%'
--   pattern_6 = '%manager%'
--   pattern_7 = '100!%!_%'
--   high_8 = 2
--   pattern_9 = '%社長%'
--   pattern_10 = 'ceo%'
--   pattern_11 = '%chief%'
--   pattern_12 = '%部長%'
--   pattern_13 = '%manager%'
--   pattern_14 = '100!%!_%'
