SELECT leads.id 
FROM leads LEFT OUTER JOIN (SELECT e12.lead_id AS lead_id, sum(CASE e12.type WHEN %(type_34)s::VARCHAR THEN %(points_13)s + CASE WHEN (lower(e12.link COLLATE "C") LIKE %(pattern_22)s::VARCHAR ESCAPE '!') THEN %(points_23)s ELSE %(param_1)s END WHEN %(type_35)s::VARCHAR THEN CASE WHEN (lower(e12.url COLLATE "C") LIKE %(pattern_14)s::VARCHAR ESCAPE '!') THEN %(points_15)s ELSE %(param_2)s END + CASE WHEN (lower(e12.url COLLATE "C") LIKE %(pattern_24)s::VARCHAR ESCAPE '!') THEN %(points_25)s ELSE %(param_3)s END WHEN %(type_36)s::VARCHAR THEN CASE WHEN (lower(e12.asset COLLATE "C") LIKE %(pattern_16)s::VARCHAR ESCAPE '!') THEN %(points_17)s ELSE %(param_4)s END + CASE WHEN (lower(coalesce(e12.url, e12.link) COLLATE "C") LIKE %(pattern_26)s::VARCHAR ESCAPE '!') THEN %(points_27)s ELSE %(param_5)s END WHEN %(type_37)s::VARCHAR THEN CASE WHEN (e12.occurred_at > %(since_18)s::TIMESTAMP WITH TIME ZONE) THEN %(points_19)s ELSE %(param_6)s END + CASE WHEN (lower(coalesce(e12.url, e12.link) COLLATE "C") LIKE %(pattern_30)s::VARCHAR ESCAPE '!') THEN %(points_31)s ELSE %(param_7)s END WHEN %(type_38)s::VARCHAR THEN CASE WHEN (lower(coalesce(e12.url, e12.link) COLLATE "C") LIKE %(pattern_20)s::VARCHAR ESCAPE '!') THEN %(points_21)s ELSE %(param_8)s END WHEN %(type_39)s::VARCHAR THEN CASE WHEN (lower(coalesce(e12.url, e12.link) COLLATE "C") LIKE %(pattern_28)s::VARCHAR ESCAPE '!') THEN %(points_29)s ELSE %(param_9)s END WHEN %(type_40)s::VARCHAR THEN CASE WHEN (lower(coalesce(e12.url, e12.link) COLLATE "C") LIKE %(pattern_32)s::VARCHAR ESCAPE '!') THEN %(points_33)s ELSE %(param_10)s END ELSE %(param_11)s END * power(%(half_43)s, ((%(at_epoch_41)s - CAST(EXTRACT(epoch FROM e12.occurred_at) AS FLOAT)) / CAST(%(param_12)s AS FLOAT)) / CAST(%(half_life_42)s AS FLOAT))) AS points 
FROM events AS e12 
WHERE e12.occurred_at <= %(at_44)s::TIMESTAMP WITH TIME ZONE AND e12.type IN (%(type_45)s::VARCHAR, %(type_46)s::VARCHAR, %(type_47)s::VARCHAR, %(type_48)s::VARCHAR, %(type_49)s::VARCHAR, %(type_50)s::VARCHAR, %(type_51)s::VARCHAR) AND e12.occurred_at > %(since_52)s::TIMESTAMP WITH TIME ZONE AND e12.machine IS NOT true GROUP BY e12.lead_id) AS score53 ON score53.lead_id = leads.id LEFT OUTER JOIN (SELECT e58.lead_id AS lead_id, sum(CASE e58.type WHEN %(type_64)s::VARCHAR THEN %(points_59)s WHEN %(type_65)s::VARCHAR THEN CASE WHEN (e58.template = %(text_60)s::VARCHAR) THEN %(points_61)s ELSE %(param_13)s END WHEN %(type_66)s::VARCHAR THEN CASE WHEN (e58.occurred_at > %(since_62)s::TIMESTAMP WITH TIME ZONE) THEN %(points_63)s ELSE %(param_14)s END ELSE %(param_15)s END) AS points 
FROM events AS e58 
WHERE e58.occurred_at <= %(at_67)s::TIMESTAMP WITH TIME ZONE AND e58.type IN (%(type_68)s::VARCHAR, %(type_69)s::VARCHAR, %(type_70)s::VARCHAR) AND e58.machine IS NOT true GROUP BY e58.lead_id) AS score71 ON score71.lead_id = leads.id 
WHERE leads.id IN (SELECT e1.lead_id 
FROM events AS e1 
WHERE e1.occurred_at <= %(at_2)s::TIMESTAMP WITH TIME ZONE AND e1.occurred_at > %(since_3)s::TIMESTAMP WITH TIME ZONE AND e1.type IN (%(type_4)s::VARCHAR, %(type_5)s::VARCHAR, %(type_6)s::VARCHAR, %(type_7)s::VARCHAR, %(type_8)s::VARCHAR, %(type_9)s::VARCHAR, %(type_10)s::VARCHAR) GROUP BY e1.lead_id 
HAVING count(*) >= %(n_11)s::INTEGER) AND NOT (coalesce(score53.points, %(coalesce_1)s) + CASE WHEN (leads.industry IN (%(text_54)s::VARCHAR, %(text_55)s::VARCHAR)) THEN %(points_56)s ELSE %(param_16)s END >= %(n_57)s::INTEGER OR coalesce(score71.points, %(coalesce_2)s) + CASE WHEN (CASE WHEN jsonb_typeof(leads.custom -> %(param_17)s::VARCHAR) = 'boolean' THEN CAST(leads.custom ->> %(param_17)s::VARCHAR AS BOOLEAN) END = %(flag_72)s) THEN %(points_73)s ELSE %(param_18)s END >= %(n_74)s::INTEGER) ORDER BY leads.id
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
--   type_64 = 'page_view'
--   points_59 = 1.0
--   type_65 = 'email_open'
--   text_60 = 'a'
--   points_61 = 2.0
--   param_13 = 0.0
--   type_66 = 'sales_call'
--   since_62 = datetime.datetime(2026, 11, 18, 10, 0, tzinfo=datetime.timezone.utc)
--   points_63 = 4.0
--   param_14 = 0.0
--   param_15 = 0.0
--   at_67 = datetime.datetime(2026, 11, 23, 10, 0, tzinfo=datetime.timezone.utc)
--   type_68 = 'page_view'
--   type_69 = 'email_open'
--   type_70 = 'sales_call'
--   at_2 = datetime.datetime(2026, 11, 23, 10, 0, tzinfo=datetime.timezone.utc)
--   since_3 = datetime.datetime(2026, 11, 16, 10, 0, tzinfo=datetime.timezone.utc)
--   type_4 = 'email_open'
--   type_5 = 'email_click'
--   type_6 = 'page_view'
--   type_7 = 'download'
--   type_8 = 'form_submit'
--   type_9 = 'seminar'
--   type_10 = 'exhibition'
--   n_11 = 2
--   coalesce_1 = 0.0
--   text_54 = 'trading'
--   text_55 = 'maker'
--   points_56 = 5.0
--   param_16 = 0.0
--   n_57 = 30
--   coalesce_2 = 0.0
--   param_17 = 'vip'
--   flag_72 = True
--   points_73 = -3.0
--   param_18 = 0.0
--   n_74 = 3
