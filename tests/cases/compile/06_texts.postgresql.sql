SELECT leads.id 
FROM leads 
WHERE lower(leads.title COLLATE "C") LIKE %(pattern_1)s::VARCHAR ESCAPE '!' OR lower(leads.title COLLATE "C") LIKE %(pattern_2)s::VARCHAR ESCAPE '!' ORDER BY leads.id
-- parameters:
--   pattern_1 = '%100!%!_%'
--   pattern_2 = '%部長%'
