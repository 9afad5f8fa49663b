SELECT leads.id 
FROM leads 
WHERE coalesce(CASE WHEN (leads.employees < :high_1) THEN :category_2 WHEN (leads.employees >= :low_3 AND leads.employees <= :high_4) THEN :category_5 WHEN (leads.employees >= :low_6 AND leads.employees <= :high_7) THEN :category_8 WHEN (leads.employees >= :low_9) THEN :category_10 ELSE NULL END IN (:category_11, :category_12), 0) = 1 AND coalesce(CASE WHEN (lower(leads.title) LIKE :pattern_13 ESCAPE '!' OR lower(leads.title) LIKE :pattern_14 ESCAPE '!' OR lower(leads.title) LIKE :pattern_15 ESCAPE '!') THEN :category_16 WHEN (lower(leads.title) LIKE :pattern_17 ESCAPE '!' OR lower(leads.title) LIKE :pattern_18 ESCAPE '!' OR lower(leads.title) LIKE :pattern_19 ESCAPE '!') THEN :category_20 WHEN (leads.title IS NOT NULL) THEN :category_21 ELSE NULL END = :category_22, 0) = 1 ORDER BY leads.id
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
