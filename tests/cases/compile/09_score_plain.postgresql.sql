SELECT leads.id 
FROM leads LEFT OUTER JOIN (SELECT e1.lead_id AS lead_id, sum(CASE WHEN (e1.type = %(type_2)s::VARCHAR) THEN %(points_3)s ELSE %(param_1)s END + CASE WHEN (e1.type = %(type_4)s::VARCHAR AND e1.template = %(text_5)s::VARCHAR) THEN %(points_6)s ELSE %(param_2)s END + CASE WHEN (e1.type = %(type_7)s::VARCHAR AND e1.occurred_at > %(since_8)s::TIMESTAMP WITH TIME ZONE) THEN %(points_9)s ELSE %(param_3)s END) AS points 
FROM events AS e1 
WHERE e1.occurred_at <= %(at_10)s::TIMESTAMP WITH TIME ZONE AND e1.type IN (%(type_11)s::VARCHAR, %(type_12)s::VARCHAR, %(type_13)s::VARCHAR) GROUP BY e1.lead_id) AS score14 ON score14.lead_id = leads.id 
WHERE coalesce(score14.points, %(coalesce_1)s) + CASE WHEN coalesce(CASE WHEN jsonb_typeof(leads.custom -> %(param_4)s::VARCHAR) = 'boolean' THEN CAST(leads.custom ->> %(param_4)s::VARCHAR AS BOOLEAN) END = %(flag_15)s, false) THEN %(points_16)s ELSE %(param_5)s END > %(n_17)s::INTEGER ORDER BY leads.id
-- parameters:
--   type_2 = 'page_view'
--   points_3 = 1.0
--   param_1 = 0.0
--   type_4 = 'email_open'
--   text_5 = 'a'
--   points_6 = 2.0
--   param_2 = 0.0
--   type_7 = 'sales_call'
--   since_8 = datetime.datetime(2026, 11, 18, 10, 0, tzinfo=datetime.timezone.utc)
--   points_9 = 4.0
--   param_3 = 0.0
--   at_10 = datetime.datetime(2026, 11, 23, 10, 0, tzinfo=datetime.timezone.utc)
--   type_11 = 'page_view'
--   type_12 = 'email_open'
--   type_13 = 'sales_call'
--   coalesce_1 = 0.0
--   param_4 = 'vip'
--   flag_15 = True
--   points_16 = -3.0
--   param_5 = 0.0
--   n_17 = 2
