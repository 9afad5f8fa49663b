SELECT leads.id 
FROM leads 
WHERE coalesce(date(CASE WHEN json_type(leads.custom, '$.' || json_quote(:param_1)) = 'text' AND date(json_extract(leads.custom, '$.' || json_quote(:param_1)), '+0 days') = json_extract(leads.custom, '$.' || json_quote(:param_1)) AND json_extract(leads.custom, '$.' || json_quote(:param_1)) >= '1000-01-01' THEN json_extract(leads.custom, '$.' || json_quote(:param_1)) END, :shift_1) <= :today_2, 0) = 1 AND date(leads.created_at) >= :since_3 AND date(leads.created_at) <= :today_4 ORDER BY leads.id
-- parameters:
--   param_1 = 'renewal_date'
--   shift_1 = '-90 days'
--   today_2 = datetime.date(2026, 11, 23)
--   since_3 = datetime.date(2026, 10, 24)
--   today_4 = datetime.date(2026, 11, 23)
