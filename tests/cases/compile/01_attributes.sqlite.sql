SELECT leads.id 
FROM leads 
WHERE leads.employees >= :n_1 AND leads.industry IN (:text_2, :text_3) ORDER BY leads.id
-- parameters:
--   n_1 = 500
--   text_2 = 'trading'
--   text_3 = 'maker'
