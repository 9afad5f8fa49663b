SELECT leads.id 
FROM leads 
WHERE (leads.employees >= %(low_1)s::INTEGER AND leads.employees <= %(high_2)s::INTEGER OR leads.employees >= %(low_3)s::INTEGER AND leads.employees <= %(high_4)s::INTEGER) AND (lower(leads.title COLLATE "C") LIKE %(pattern_5)s::VARCHAR ESCAPE '!' OR lower(leads.title COLLATE "C") LIKE %(pattern_6)s::VARCHAR ESCAPE '!' OR lower(leads.title COLLATE "C") LIKE %(pattern_7)s::VARCHAR ESCAPE '!') ORDER BY leads.id
-- parameters:
--   low_1 = 2
--   high_2 = 99
--   low_3 = 100
--   high_4 = 499
--   pattern_5 = '%社長%'
--   pattern_6 = 'ceo%'
--   pattern_7 = '%chief%'
