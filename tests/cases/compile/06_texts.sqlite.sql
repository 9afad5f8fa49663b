SELECT leads.id 
FROM leads 
WHERE leads.title LIKE :pattern_1 ESCAPE '!' OR leads.title LIKE :pattern_2 ESCAPE '!' ORDER BY leads.id
-- parameters:
--   pattern_1 = '%100!%!_%'
--   pattern_2 = '%部長%'
