SELECT leads.id 
FROM leads 
WHERE (leads.stage NOT IN (%(text_1)s::VARCHAR, %(text_2)s::VARCHAR)) ORDER BY leads.id
-- parameters:
--   text_1 = 'lead'
--   text_2 = 'mql'
