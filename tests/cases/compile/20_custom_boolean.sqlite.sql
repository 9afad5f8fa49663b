SELECT leads.id 
FROM leads 
WHERE CASE json_type(leads.custom, '$.' || json_quote(:param_1)) WHEN 'true' THEN 1 WHEN 'false' THEN 0 END = :flag_1 AND CASE WHEN json_type(leads.custom, '$.' || json_quote(:param_2)) IN ('integer', 'real') THEN CAST(json_extract(leads.custom, '$.' || json_quote(:param_2)) AS REAL) END > :n_2 ORDER BY leads.id
-- parameters:
--   param_1 = 'vip'
--   flag_1 = True
--   param_2 = 'seats'
--   n_2 = 10
