SELECT leads.id 
FROM leads 
WHERE leads.title IS NULL OR CASE WHEN jsonb_typeof(leads.custom -> %(param_1)s::VARCHAR) = 'number' THEN CAST(leads.custom ->> %(param_1)s::VARCHAR AS DOUBLE PRECISION) END IS NOT NULL ORDER BY leads.id
-- parameters:
--   param_1 = 'seats'
