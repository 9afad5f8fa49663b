SELECT leads.id 
FROM leads 
WHERE CASE WHEN jsonb_typeof(leads.custom -> %(param_1)s::VARCHAR) = 'boolean' THEN CAST(leads.custom ->> %(param_1)s::VARCHAR AS BOOLEAN) END = %(flag_1)s AND CASE WHEN jsonb_typeof(leads.custom -> %(param_2)s::VARCHAR) = 'number' THEN CAST(leads.custom ->> %(param_2)s::VARCHAR AS DOUBLE PRECISION) END > %(n_2)s::INTEGER ORDER BY leads.id
-- parameters:
--   param_1 = 'vip'
--   flag_1 = True
--   param_2 = 'seats'
--   n_2 = 10
