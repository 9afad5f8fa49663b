SELECT leads.id 
FROM leads 
WHERE leads.title IS NULL OR CASE WHEN json_type(leads.custom, '$.' || json_quote(:param_1)) IN ('integer', 'real') THEN CAST(json_extract(leads.custom, '$.' || json_quote(:param_1)) AS REAL) END IS NOT NULL ORDER BY leads.id
-- parameters:
--   param_1 = 'seats'
