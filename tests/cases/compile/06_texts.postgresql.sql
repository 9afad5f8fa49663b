SELECT leads.id 
FROM leads 
WHERE leads.title IS NOT NULL AND lower(leads.title COLLATE "C") LIKE %(pattern_1)s::VARCHAR ESCAPE '!' OR leads.title IS NOT NULL AND lower(leads.title COLLATE "C") LIKE %(pattern_2)s::VARCHAR ESCAPE '!' ORDER BY leads.id
-- parameters:
--   pattern_1 = '%100!%!_%'
--   pattern_2 = '%部長%'
