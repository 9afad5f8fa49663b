SELECT leads.id 
FROM leads LEFT OUTER JOIN (SELECT e12.lead_id AS lead_id, sum((CASE WHEN (e12.type = %(type_13)s::VARCHAR AND e12.occurred_at > %(since_14)s::TIMESTAMP WITH TIME ZONE) THEN %(points_15)s ELSE %(param_1)s END + CASE WHEN (e12.type = %(type_16)s::VARCHAR AND lower(e12.url COLLATE "C") LIKE %(pattern_17)s::VARCHAR ESCAPE '!' AND e12.occurred_at > %(since_18)s::TIMESTAMP WITH TIME ZONE) THEN %(points_19)s ELSE %(param_2)s END + CASE WHEN (e12.type = %(type_20)s::VARCHAR AND lower(e12.asset COLLATE "C") LIKE %(pattern_21)s::VARCHAR ESCAPE '!' AND e12.occurred_at > %(since_22)s::TIMESTAMP WITH TIME ZONE) THEN %(points_23)s ELSE %(param_3)s END + CASE WHEN (e12.type = %(type_24)s::VARCHAR AND e12.occurred_at > %(since_25)s::TIMESTAMP WITH TIME ZONE) THEN %(points_26)s ELSE %(param_4)s END + CASE WHEN (e12.type IN (%(type_27)s::VARCHAR, %(type_28)s::VARCHAR, %(type_29)s::VARCHAR, %(type_30)s::VARCHAR, %(type_31)s::VARCHAR, %(type_32)s::VARCHAR, %(type_33)s::VARCHAR) AND lower(CASE WHEN (e12.type = %(type_34)s::VARCHAR) THEN e12.url WHEN (e12.type = %(type_35)s::VARCHAR) THEN e12.link ELSE coalesce(e12.url, e12.link) END COLLATE "C") LIKE %(pattern_36)s::VARCHAR ESCAPE '!' AND e12.occurred_at > %(since_37)s::TIMESTAMP WITH TIME ZONE) THEN %(points_38)s ELSE %(param_5)s END) * power(%(half_41)s, CASE WHEN (((%(at_epoch_39)s - CAST(EXTRACT(epoch FROM e12.occurred_at) AS FLOAT)) / CAST(%(param_6)s AS FLOAT)) / CAST(%(half_life_40)s AS FLOAT) > %(param_7)s::INTEGER) THEN %(param_8)s ELSE ((%(at_epoch_39)s - CAST(EXTRACT(epoch FROM e12.occurred_at) AS FLOAT)) / CAST(%(param_6)s AS FLOAT)) / CAST(%(half_life_40)s AS FLOAT) END)) AS points 
FROM events AS e12 
WHERE e12.occurred_at <= %(at_42)s::TIMESTAMP WITH TIME ZONE AND e12.type IN (%(type_43)s::VARCHAR, %(type_44)s::VARCHAR, %(type_45)s::VARCHAR, %(type_46)s::VARCHAR, %(type_47)s::VARCHAR, %(type_48)s::VARCHAR, %(type_49)s::VARCHAR) AND e12.occurred_at > %(since_50)s::TIMESTAMP WITH TIME ZONE GROUP BY e12.lead_id) AS score51 ON score51.lead_id = leads.id LEFT OUTER JOIN (SELECT e57.lead_id AS lead_id, sum(CASE WHEN (e57.type = %(type_58)s::VARCHAR) THEN %(points_59)s ELSE %(param_9)s END + CASE WHEN (e57.type = %(type_60)s::VARCHAR AND e57.template = %(text_61)s::VARCHAR) THEN %(points_62)s ELSE %(param_10)s END + CASE WHEN (e57.type = %(type_63)s::VARCHAR AND e57.occurred_at > %(since_64)s::TIMESTAMP WITH TIME ZONE) THEN %(points_65)s ELSE %(param_11)s END) AS points 
FROM events AS e57 
WHERE e57.occurred_at <= %(at_66)s::TIMESTAMP WITH TIME ZONE AND e57.type IN (%(type_67)s::VARCHAR, %(type_68)s::VARCHAR, %(type_69)s::VARCHAR) GROUP BY e57.lead_id) AS score70 ON score70.lead_id = leads.id 
WHERE leads.id IN (SELECT e1.lead_id 
FROM events AS e1 
WHERE e1.occurred_at <= %(at_2)s::TIMESTAMP WITH TIME ZONE AND e1.occurred_at > %(since_3)s::TIMESTAMP WITH TIME ZONE AND e1.type IN (%(type_4)s::VARCHAR, %(type_5)s::VARCHAR, %(type_6)s::VARCHAR, %(type_7)s::VARCHAR, %(type_8)s::VARCHAR, %(type_9)s::VARCHAR, %(type_10)s::VARCHAR) GROUP BY e1.lead_id 
HAVING count(*) >= %(n_11)s::INTEGER) AND NOT (least(coalesce(score51.points, %(coalesce_1)s) + CASE WHEN (leads.industry IS NOT NULL AND leads.industry IN (%(text_52)s::VARCHAR, %(text_53)s::VARCHAR)) THEN %(points_54)s ELSE %(param_12)s END, %(cap_55)s) >= %(n_56)s::INTEGER OR coalesce(score70.points, %(coalesce_2)s) + CASE WHEN coalesce(CASE WHEN jsonb_typeof(leads.custom -> %(param_13)s::VARCHAR) = 'boolean' THEN CAST(leads.custom ->> %(param_13)s::VARCHAR AS BOOLEAN) END = %(flag_71)s, false) THEN %(points_72)s ELSE %(param_14)s END >= %(n_73)s::INTEGER) ORDER BY leads.id
-- parameters:
--   type_13 = 'email_click'
--   since_14 = datetime.datetime(2026, 9, 24, 10, 0, tzinfo=datetime.timezone.utc)
--   points_15 = 3.0
--   param_1 = 0.0
--   type_16 = 'page_view'
--   pattern_17 = '/pricing%'
--   since_18 = datetime.datetime(2026, 9, 24, 10, 0, tzinfo=datetime.timezone.utc)
--   points_19 = 10.0
--   param_2 = 0.0
--   type_20 = 'download'
--   pattern_21 = 'wp-%'
--   since_22 = datetime.datetime(2026, 9, 24, 10, 0, tzinfo=datetime.timezone.utc)
--   points_23 = 15.0
--   param_3 = 0.0
--   type_24 = 'seminar'
--   since_25 = datetime.datetime(2026, 10, 24, 10, 0, tzinfo=datetime.timezone.utc)
--   points_26 = 20.0
--   param_4 = 0.0
--   type_27 = 'email_open'
--   type_28 = 'email_click'
--   type_29 = 'page_view'
--   type_30 = 'download'
--   type_31 = 'form_submit'
--   type_32 = 'seminar'
--   type_33 = 'exhibition'
--   type_34 = 'page_view'
--   type_35 = 'email_click'
--   pattern_36 = '%x!%!_%'
--   since_37 = datetime.datetime(2026, 9, 24, 10, 0, tzinfo=datetime.timezone.utc)
--   points_38 = 7.0
--   param_5 = 0.0
--   half_41 = 0.5
--   at_epoch_39 = 1795428000.0
--   param_6 = 86400.0
--   half_life_40 = 10.0
--   param_7 = 1000
--   param_8 = 1000.0
--   at_42 = datetime.datetime(2026, 11, 23, 10, 0, tzinfo=datetime.timezone.utc)
--   type_43 = 'email_click'
--   type_44 = 'page_view'
--   type_45 = 'download'
--   type_46 = 'seminar'
--   type_47 = 'email_open'
--   type_48 = 'form_submit'
--   type_49 = 'exhibition'
--   since_50 = datetime.datetime(2026, 9, 24, 10, 0, tzinfo=datetime.timezone.utc)
--   type_58 = 'page_view'
--   points_59 = 1.0
--   param_9 = 0.0
--   type_60 = 'email_open'
--   text_61 = 'a'
--   points_62 = 2.0
--   param_10 = 0.0
--   type_63 = 'sales_call'
--   since_64 = datetime.datetime(2026, 11, 18, 10, 0, tzinfo=datetime.timezone.utc)
--   points_65 = 4.0
--   param_11 = 0.0
--   at_66 = datetime.datetime(2026, 11, 23, 10, 0, tzinfo=datetime.timezone.utc)
--   type_67 = 'page_view'
--   type_68 = 'email_open'
--   type_69 = 'sales_call'
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
--   text_52 = 'trading'
--   text_53 = 'maker'
--   points_54 = 5.0
--   param_12 = 0.0
--   cap_55 = 60.0
--   n_56 = 30
--   coalesce_2 = 0.0
--   param_13 = 'vip'
--   flag_71 = True
--   points_72 = -3.0
--   param_14 = 0.0
--   n_73 = 3
