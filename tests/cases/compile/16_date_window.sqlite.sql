SELECT leads.id 
FROM leads 
WHERE CASE WHEN json_type(leads.custom, '$.' || json_quote(:param_1)) = 'text' AND date(json_extract(leads.custom, '$.' || json_quote(:param_1)), '+0 days') = json_extract(leads.custom, '$.' || json_quote(:param_1)) AND json_extract(leads.custom, '$.' || json_quote(:param_1)) >= '1000-01-01' THEN json_extract(leads.custom, '$.' || json_quote(:param_1)) END BETWEEN :today_1 AND :until_2 ORDER BY leads.id
-- parameters:
--   param_1 = 'renewal_date'
--   today_1 = datetime.date(2026, 11, 23)
--   until_2 = datetime.date(2027, 2, 21)
