SELECT leads.id 
FROM leads LEFT OUTER JOIN (SELECT e1.lead_id AS lead_id, sum(CASE e1.type WHEN %(type_7)s::VARCHAR THEN %(points_2)s WHEN %(type_8)s::VARCHAR THEN CASE WHEN (e1.template = %(text_3)s::VARCHAR) THEN %(points_4)s ELSE %(param_1)s END WHEN %(type_9)s::VARCHAR THEN CASE WHEN (e1.occurred_at > %(since_5)s::TIMESTAMP WITH TIME ZONE) THEN %(points_6)s ELSE %(param_2)s END ELSE %(param_3)s END) AS points 
FROM events AS e1 
WHERE e1.occurred_at <= %(at_10)s::TIMESTAMP WITH TIME ZONE AND e1.type IN (%(type_11)s::VARCHAR, %(type_12)s::VARCHAR, %(type_13)s::VARCHAR) AND e1.machine IS NOT true GROUP BY e1.lead_id) AS score14 ON score14.lead_id = leads.id 
WHERE coalesce(score14.points, %(coalesce_1)s) + CASE WHEN (CASE WHEN jsonb_typeof(leads.custom -> %(param_4)s::VARCHAR) = 'boolean' THEN CAST(leads.custom ->> %(param_4)s::VARCHAR AS BOOLEAN) END = %(flag_15)s) THEN %(points_16)s ELSE %(param_5)s END > %(n_17)s::INTEGER ORDER BY leads.id
-- parameters:
--   type_7 = 'page_view'
--   points_2 = 1.0
--   type_8 = 'email_open'
--   text_3 = 'a'
--   points_4 = 2.0
--   param_1 = 0.0
--   type_9 = 'sales_call'
--   since_5 = datetime.datetime(2026, 11, 18, 10, 0, tzinfo=datetime.timezone.utc)
--   points_6 = 4.0
--   param_2 = 0.0
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
