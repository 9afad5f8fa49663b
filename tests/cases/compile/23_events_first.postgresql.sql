SELECT leads.id 
FROM leads LEFT OUTER JOIN (SELECT e12.lead_id AS lead_id, sum(CASE e12.type WHEN %(type_34)s::VARCHAR THEN %(points_13)s + CASE WHEN (lower(e12.link COLLATE "C") LIKE %(pattern_22)s::VARCHAR ESCAPE '!') THEN %(points_23)s ELSE %(param_1)s END WHEN %(type_35)s::VARCHAR THEN CASE WHEN (lower(e12.url COLLATE "C") LIKE %(pattern_14)s::VARCHAR ESCAPE '!') THEN %(points_15)s ELSE %(param_2)s END + CASE WHEN (lower(e12.url COLLATE "C") LIKE %(pattern_24)s::VARCHAR ESCAPE '!') THEN %(points_25)s ELSE %(param_3)s END WHEN %(type_36)s::VARCHAR THEN CASE WHEN (lower(e12.asset COLLATE "C") LIKE %(pattern_16)s::VARCHAR ESCAPE '!') THEN %(points_17)s ELSE %(param_4)s END + CASE WHEN (lower(coalesce(e12.url, e12.link) COLLATE "C") LIKE %(pattern_26)s::VARCHAR ESCAPE '!') THEN %(points_27)s ELSE %(param_5)s END WHEN %(type_37)s::VARCHAR THEN CASE WHEN (e12.occurred_at > %(since_18)s::TIMESTAMP WITH TIME ZONE) THEN %(points_19)s ELSE %(param_6)s END + CASE WHEN (lower(coalesce(e12.url, e12.link) COLLATE "C") LIKE %(pattern_30)s::VARCHAR ESCAPE '!') THEN %(points_31)s ELSE %(param_7)s END WHEN %(type_38)s::VARCHAR THEN CASE WHEN (lower(coalesce(e12.url, e12.link) COLLATE "C") LIKE %(pattern_20)s::VARCHAR ESCAPE '!') THEN %(points_21)s ELSE %(param_8)s END WHEN %(type_39)s::VARCHAR THEN CASE WHEN (lower(coalesce(e12.url, e12.link) COLLATE "C") LIKE %(pattern_28)s::VARCHAR ESCAPE '!') THEN %(points_29)s ELSE %(param_9)s END WHEN %(type_40)s::VARCHAR THEN CASE WHEN (lower(coalesce(e12.url, e12.link) COLLATE "C") LIKE %(pattern_32)s::VARCHAR ESCAPE '!') THEN %(points_33)s ELSE %(param_10)s END ELSE %(param_11)s END * power(%(half_43)s, ((%(at_epoch_41)s - CAST(EXTRACT(epoch FROM e12.occurred_at) AS FLOAT)) / CAST(%(param_12)s AS FLOAT)) / CAST(%(half_life_42)s AS FLOAT))) AS points 
FROM events AS e12 
WHERE e12.occurred_at <= %(at_44)s::TIMESTAMP WITH TIME ZONE AND e12.type IN (%(type_45)s::VARCHAR, %(type_46)s::VARCHAR, %(type_47)s::VARCHAR, %(type_48)s::VARCHAR, %(type_49)s::VARCHAR, %(type_50)s::VARCHAR, %(type_51)s::VARCHAR) AND e12.occurred_at > %(since_52)s::TIMESTAMP WITH TIME ZONE AND e12.machine IS NOT true GROUP BY e12.lead_id) AS score53 ON score53.lead_id = leads.id 
WHERE leads.stage = %(text_1)s::VARCHAR AND (leads.id IN (SELECT e2.lead_id 
FROM events AS e2 
WHERE e2.occurred_at <= %(at_3)s::TIMESTAMP WITH TIME ZONE AND e2.occurred_at > %(since_4)s::TIMESTAMP WITH TIME ZONE AND e2.type = %(type_5)s::VARCHAR AND e2.to_stage = %(text_6)s::VARCHAR) OR leads.id IN (SELECT e7.lead_id 
FROM events AS e7 
WHERE e7.occurred_at <= %(at_8)s::TIMESTAMP WITH TIME ZONE AND e7.occurred_at > %(since_9)s::TIMESTAMP WITH TIME ZONE AND e7.type = %(type_10)s::VARCHAR GROUP BY e7.lead_id 
HAVING count(*) >= %(n_11)s::INTEGER)) AND coalesce(score53.points, %(coalesce_1)s) + CASE WHEN (leads.industry IN (%(text_54)s::VARCHAR, %(text_55)s::VARCHAR)) THEN %(points_56)s ELSE %(param_13)s END > %(n_57)s::INTEGER ORDER BY leads.id
-- parameters:
--   type_34 = 'email_click'
--   points_13 = 3.0
--   pattern_22 = '%x!%!_%'
--   points_23 = 7.0
--   param_1 = 0.0
--   type_35 = 'page_view'
--   pattern_14 = '/pricing%'
--   points_15 = 10.0
--   param_2 = 0.0
--   pattern_24 = '%x!%!_%'
--   points_25 = 7.0
--   param_3 = 0.0
--   type_36 = 'download'
--   pattern_16 = 'wp-%'
--   points_17 = 15.0
--   param_4 = 0.0
--   pattern_26 = '%x!%!_%'
--   points_27 = 7.0
--   param_5 = 0.0
--   type_37 = 'seminar'
--   since_18 = datetime.datetime(2026, 10, 24, 10, 0, tzinfo=datetime.timezone.utc)
--   points_19 = 20.0
--   param_6 = 0.0
--   pattern_30 = '%x!%!_%'
--   points_31 = 7.0
--   param_7 = 0.0
--   type_38 = 'email_open'
--   pattern_20 = '%x!%!_%'
--   points_21 = 7.0
--   param_8 = 0.0
--   type_39 = 'form_submit'
--   pattern_28 = '%x!%!_%'
--   points_29 = 7.0
--   param_9 = 0.0
--   type_40 = 'exhibition'
--   pattern_32 = '%x!%!_%'
--   points_33 = 7.0
--   param_10 = 0.0
--   param_11 = 0.0
--   half_43 = 0.5
--   at_epoch_41 = 1795428000.0
--   param_12 = 86400.0
--   half_life_42 = 10.0
--   at_44 = datetime.datetime(2026, 11, 23, 10, 0, tzinfo=datetime.timezone.utc)
--   type_45 = 'email_click'
--   type_46 = 'page_view'
--   type_47 = 'download'
--   type_48 = 'seminar'
--   type_49 = 'email_open'
--   type_50 = 'form_submit'
--   type_51 = 'exhibition'
--   since_52 = datetime.datetime(2026, 9, 24, 10, 0, tzinfo=datetime.timezone.utc)
--   text_1 = 'lead'
--   at_3 = datetime.datetime(2026, 11, 23, 10, 0, tzinfo=datetime.timezone.utc)
--   since_4 = datetime.datetime(2026, 11, 22, 10, 0, tzinfo=datetime.timezone.utc)
--   type_5 = 'stage_change'
--   text_6 = 'recycle'
--   at_8 = datetime.datetime(2026, 11, 23, 10, 0, tzinfo=datetime.timezone.utc)
--   since_9 = datetime.datetime(2026, 10, 24, 10, 0, tzinfo=datetime.timezone.utc)
--   type_10 = 'seminar'
--   n_11 = 3
--   coalesce_1 = 0.0
--   text_54 = 'trading'
--   text_55 = 'maker'
--   points_56 = 5.0
--   param_13 = 0.0
--   n_57 = 10
