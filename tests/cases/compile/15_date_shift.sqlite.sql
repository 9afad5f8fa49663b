SELECT leads.id 
FROM leads 
WHERE leads.created_at >= :from_1 AND leads.created_at < :before_2 AND date(CASE WHEN json_type(leads.custom, '$.' || json_quote(:param_1)) = 'text' AND date(json_extract(leads.custom, '$.' || json_quote(:param_1)), '+0 days') = json_extract(leads.custom, '$.' || json_quote(:param_1)) AND json_extract(leads.custom, '$.' || json_quote(:param_1)) >= '1000-01-01' THEN json_extract(leads.custom, '$.' || json_quote(:param_1)) END, :shift_3) <= :today_4 ORDER BY leads.id
-- parameters:
--   from_1 = datetime.datetime(2026, 10, 24, 0, 0, tzinfo=datetime.timezone.utc)
--   before_2 = datetime.datetime(2026, 11, 24, 0, 0, tzinfo=datetime.timezone.utc)
--   param_1 = 'renewal_date'
--   shift_3 = '-90 days'
--   today_4 = datetime.date(2026, 11, 23)
