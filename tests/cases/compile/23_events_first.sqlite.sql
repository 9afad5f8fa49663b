SELECT leads.id 
FROM leads LEFT OUTER JOIN (SELECT e12.lead_id AS lead_id, sum(CASE e12.type WHEN :type_34 THEN :points_13 + CASE WHEN (e12.link LIKE :pattern_22 ESCAPE '!') THEN :points_23 ELSE :param_1 END WHEN :type_35 THEN CASE WHEN (e12.url LIKE :pattern_14 ESCAPE '!') THEN :points_15 ELSE :param_2 END + CASE WHEN (e12.url LIKE :pattern_24 ESCAPE '!') THEN :points_25 ELSE :param_3 END WHEN :type_36 THEN CASE WHEN (e12.asset LIKE :pattern_16 ESCAPE '!') THEN :points_17 ELSE :param_4 END + CASE WHEN (coalesce(e12.url, e12.link) LIKE :pattern_26 ESCAPE '!') THEN :points_27 ELSE :param_5 END WHEN :type_37 THEN CASE WHEN (e12.occurred_at > :since_18) THEN :points_19 ELSE :param_6 END + CASE WHEN (coalesce(e12.url, e12.link) LIKE :pattern_30 ESCAPE '!') THEN :points_31 ELSE :param_7 END WHEN :type_38 THEN CASE WHEN (coalesce(e12.url, e12.link) LIKE :pattern_20 ESCAPE '!') THEN :points_21 ELSE :param_8 END WHEN :type_39 THEN CASE WHEN (coalesce(e12.url, e12.link) LIKE :pattern_28 ESCAPE '!') THEN :points_29 ELSE :param_9 END WHEN :type_40 THEN CASE WHEN (coalesce(e12.url, e12.link) LIKE :pattern_32 ESCAPE '!') THEN :points_33 ELSE :param_10 END ELSE :param_11 END * power(:half_43, (:at_julian_41 - julianday(e12.occurred_at)) / (:half_life_42 + 0.0))) AS points 
FROM events AS e12 
WHERE e12.occurred_at <= :at_44 AND e12.type IN (:type_45, :type_46, :type_47, :type_48, :type_49, :type_50, :type_51) AND e12.occurred_at > :since_52 AND e12.machine IS NOT 1 GROUP BY e12.lead_id) AS score53 ON score53.lead_id = leads.id 
WHERE leads.stage = :text_1 AND (leads.id IN (SELECT e2.lead_id 
FROM events AS e2 
WHERE e2.occurred_at <= :at_3 AND e2.occurred_at > :since_4 AND e2.type = :type_5 AND e2.to_stage = :text_6) OR leads.id IN (SELECT e7.lead_id 
FROM events AS e7 
WHERE e7.occurred_at <= :at_8 AND e7.occurred_at > :since_9 AND e7.type = :type_10 GROUP BY e7.lead_id 
HAVING count(*) >= :n_11)) AND coalesce(score53.points, :coalesce_1) + CASE WHEN (leads.industry IN (:text_54, :text_55)) THEN :points_56 ELSE :param_12 END > :n_57 ORDER BY leads.id
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
--   at_julian_41 = 2461367.9166666665
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
--   param_12 = 0.0
--   n_57 = 10
