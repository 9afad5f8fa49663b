SELECT leads.id 
FROM leads 
WHERE leads.stage != %(text_1)s::VARCHAR ORDER BY leads.id
-- parameters:
--   text_1 = 'lead'
