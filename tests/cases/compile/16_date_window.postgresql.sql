SELECT leads.id 
FROM leads 
WHERE CASE WHEN jsonb_typeof(leads.custom -> %(param_1)s::VARCHAR) = 'string' THEN CASE WHEN (leads.custom ->> %(param_1)s::VARCHAR) ~ '^[1-9][0-9]{3}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$' THEN CASE WHEN to_char(make_date(CAST(substr(leads.custom ->> %(param_1)s::VARCHAR, 1, 4) AS INTEGER), CAST(substr(leads.custom ->> %(param_1)s::VARCHAR, 6, 2) AS INTEGER), 1) + (CAST(substr(leads.custom ->> %(param_1)s::VARCHAR, 9, 2) AS INTEGER) - 1), 'YYYY-MM-DD') = (leads.custom ->> %(param_1)s::VARCHAR) THEN CAST(leads.custom ->> %(param_1)s::VARCHAR AS DATE) END END END BETWEEN %(today_1)s::DATE AND %(until_2)s::DATE ORDER BY leads.id
-- parameters:
--   param_1 = 'renewal_date'
--   today_1 = datetime.date(2026, 11, 23)
--   until_2 = datetime.date(2027, 2, 21)
