SELECT leads.id 
FROM leads 
WHERE (leads.employees >= :low_1 AND leads.employees <= :high_2 OR leads.employees >= :low_3 AND leads.employees <= :high_4) AND (leads.title LIKE :pattern_5 ESCAPE '!' OR leads.title LIKE :pattern_6 ESCAPE '!' OR leads.title LIKE :pattern_7 ESCAPE '!') ORDER BY leads.id
-- parameters:
--   low_1 = 2
--   high_2 = 99
--   low_3 = 100
--   high_4 = 499
--   pattern_5 = '%社長%'
--   pattern_6 = 'ceo%'
--   pattern_7 = '%chief%'
