SELECT leads.id 
FROM leads 
WHERE leads.created_at >= %(from_1)s::TIMESTAMP WITH TIME ZONE AND leads.created_at < %(before_2)s::TIMESTAMP WITH TIME ZONE AND CASE WHEN jsonb_typeof(leads.custom -> %(param_1)s::VARCHAR) = 'string' THEN CASE WHEN (leads.custom ->> %(param_1)s::VARCHAR) ~ '^[1-9][0-9]{3}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$' THEN CASE WHEN to_char(make_date(CAST(substr(leads.custom ->> %(param_1)s::VARCHAR, 1, 4) AS INTEGER), CAST(substr(leads.custom ->> %(param_1)s::VARCHAR, 6, 2) AS INTEGER), 1) + (CAST(substr(leads.custom ->> %(param_1)s::VARCHAR, 9, 2) AS INTEGER) - 1), 'YYYY-MM-DD') = (leads.custom ->> %(param_1)s::VARCHAR) THEN CAST(leads.custom ->> %(param_1)s::VARCHAR AS DATE) END END END + CAST(%(days_3)s::INTEGER AS INTEGER) <= %(today_4)s::DATE ORDER BY leads.id
-- parameters:
--   from_1 = datetime.datetime(2026, 10, 24, 0, 0, tzinfo=datetime.timezone.utc)
--   before_2 = datetime.datetime(2026, 11, 24, 0, 0, tzinfo=datetime.timezone.utc)
--   param_1 = 'renewal_date'
--   days_3 = -90
--   today_4 = datetime.date(2026, 11, 23)
