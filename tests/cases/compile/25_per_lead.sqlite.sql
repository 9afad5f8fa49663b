SELECT leads.id 
FROM leads 
WHERE (SELECT count(*) AS count_1 
FROM events AS e1 
WHERE e1.lead_id = leads.id AND e1.occurred_at <= :at_2 AND e1.occurred_at > :since_3 AND e1.type = :type_4) >= :n_5 AND ((SELECT count(*) >= :n_10 OR count(*) FILTER (WHERE e6.link LIKE :pattern_9 ESCAPE '!') >= :n_11 AS anon_1 
FROM events AS e6 
WHERE e6.lead_id = leads.id AND e6.occurred_at <= :at_7 AND e6.type = :type_8 AND e6.machine IS NOT 1) OR (SELECT coalesce(sum(CASE e12.type WHEN :type_18 THEN :points_13 WHEN :type_19 THEN CASE WHEN (e12.template = :text_14) THEN :points_15 ELSE :param_1 END WHEN :type_20 THEN CASE WHEN (e12.occurred_at > :since_16) THEN :points_17 ELSE :param_2 END ELSE :param_3 END), :coalesce_2) AS coalesce_1 
FROM events AS e12 
WHERE e12.lead_id = leads.id AND e12.occurred_at <= :at_21 AND e12.type IN (:type_22, :type_23, :type_24) AND e12.machine IS NOT 1) + CASE WHEN (CASE json_type(leads.custom, '$.' || json_quote(:param_4)) WHEN 'true' THEN 1 WHEN 'false' THEN 0 END = :flag_25) THEN :points_26 ELSE :param_5 END > :n_27) ORDER BY leads.id
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
