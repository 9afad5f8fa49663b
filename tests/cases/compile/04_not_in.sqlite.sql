SELECT leads.id 
FROM leads 
WHERE (leads.stage NOT IN (:text_1, :text_2)) ORDER BY leads.id
-- parameters:
--   text_1 = 'lead'
--   text_2 = 'mql'
