SELECT leads.id 
FROM leads 
WHERE (SELECT count(*) AS count_1 
FROM events AS e1 
WHERE e1.lead_id = leads.id AND e1.occurred_at <= %(at_2)s::TIMESTAMP WITH TIME ZONE AND e1.occurred_at > %(since_3)s::TIMESTAMP WITH TIME ZONE AND e1.type = %(type_4)s::VARCHAR) >= %(n_5)s::INTEGER AND ((SELECT count(*) >= %(n_10)s::INTEGER OR count(*) FILTER (WHERE lower(e6.link COLLATE "C") LIKE %(pattern_9)s::VARCHAR ESCAPE '!') >= %(n_11)s::INTEGER AS anon_1 
FROM events AS e6 
WHERE e6.lead_id = leads.id AND e6.occurred_at <= %(at_7)s::TIMESTAMP WITH TIME ZONE AND e6.type = %(type_8)s::VARCHAR AND e6.machine IS NOT true) OR (SELECT coalesce(sum(CASE e12.type WHEN %(type_18)s::VARCHAR THEN %(points_13)s WHEN %(type_19)s::VARCHAR THEN CASE WHEN (e12.template = %(text_14)s::VARCHAR) THEN %(points_15)s ELSE %(param_1)s END WHEN %(type_20)s::VARCHAR THEN CASE WHEN (e12.occurred_at > %(since_16)s::TIMESTAMP WITH TIME ZONE) THEN %(points_17)s ELSE %(param_2)s END ELSE %(param_3)s END), %(coalesce_2)s) AS coalesce_1 
FROM events AS e12 
WHERE e12.lead_id = leads.id AND e12.occurred_at <= %(at_21)s::TIMESTAMP WITH TIME ZONE AND e12.type IN (%(type_22)s::VARCHAR, %(type_23)s::VARCHAR, %(type_24)s::VARCHAR) AND e12.machine IS NOT true) + CASE WHEN (CASE WHEN jsonb_typeof(leads.custom -> %(param_4)s::VARCHAR) = 'boolean' THEN CAST(leads.custom ->> %(param_4)s::VARCHAR AS BOOLEAN) END = %(flag_25)s) THEN %(points_26)s ELSE %(param_5)s END > %(n_27)s::INTEGER) ORDER BY leads.id
-- parameters:
--   at_2 = datetime.datetime(2026, 11, 23, 10, 0, tzinfo=datetime.timezone.utc)
--   since_3 = datetime.datetime(2026, 8, 25, 10, 0, tzinfo=datetime.timezone.utc)
--   type_4 = 'page_view'
--   n_5 = 5
--   n_10 = 2
--   pattern_9 = '%x%'
--   n_11 = 2
--   at_7 = datetime.datetime(2026, 11, 23, 10, 0, tzinfo=datetime.timezone.utc)
--   type_8 = 'email_click'
--   type_18 = 'page_view'
--   points_13 = 1.0
--   type_19 = 'email_open'
--   text_14 = 'a'
--   points_15 = 2.0
--   param_1 = 0.0
--   type_20 = 'sales_call'
--   since_16 = datetime.datetime(2026, 11, 18, 10, 0, tzinfo=datetime.timezone.utc)
--   points_17 = 4.0
--   param_2 = 0.0
--   param_3 = 0.0
--   coalesce_2 = 0.0
--   at_21 = datetime.datetime(2026, 11, 23, 10, 0, tzinfo=datetime.timezone.utc)
--   type_22 = 'page_view'
--   type_23 = 'email_open'
--   type_24 = 'sales_call'
--   param_4 = 'vip'
--   flag_25 = True
--   points_26 = -3.0
--   param_5 = 0.0
--   n_27 = 1
