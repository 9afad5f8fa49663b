SELECT leads.id 
FROM leads 
WHERE leads.employees >= :low_1 OR leads.title LIKE :pattern_2 ESCAPE '!' OR leads.title LIKE :pattern_3 ESCAPE '!' OR leads.title LIKE :pattern_4 ESCAPE '!' OR leads.title IS NOT NULL AND NOT (leads.title LIKE :pattern_5 ESCAPE '!' OR leads.title LIKE :pattern_6 ESCAPE '!' OR leads.title LIKE :pattern_7 ESCAPE '!') OR NOT (leads.employees IS NOT NULL AND leads.employees < :high_8) AND (leads.title LIKE :pattern_9 ESCAPE '!' OR leads.title LIKE :pattern_10 ESCAPE '!' OR leads.title LIKE :pattern_11 ESCAPE '!' OR leads.title LIKE :pattern_12 ESCAPE '!' OR leads.title LIKE :pattern_13 ESCAPE '!' OR leads.title LIKE :pattern_14 ESCAPE '!') ORDER BY leads.id
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
