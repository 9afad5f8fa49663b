SELECT leads.id 
FROM leads 
WHERE leads.employees >= %(n_1)s::INTEGER AND leads.industry IN (%(text_2)s::VARCHAR, %(text_3)s::VARCHAR) ORDER BY leads.id
-- parameters:
--   n_1 = 500
--   text_2 = 'trading'
--   text_3 = 'maker'
