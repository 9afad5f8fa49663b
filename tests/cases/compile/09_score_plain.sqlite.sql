SELECT leads.id 
FROM leads 
WHERE (SELECT coalesce(sum(CASE e1.type WHEN :type_7 THEN :points_2 WHEN :type_8 THEN CASE WHEN (e1.template = :text_3) THEN :points_4 ELSE :param_1 END WHEN :type_9 THEN CASE WHEN (e1.occurred_at > :since_5) THEN :points_6 ELSE :param_2 END ELSE :param_3 END), :coalesce_2) AS coalesce_1 
FROM events AS e1 
WHERE e1.lead_id = leads.id AND e1.occurred_at <= :at_10 AND e1.type IN (:type_11, :type_12, :type_13) AND e1.machine IS NOT 1) + CASE WHEN (CASE json_type(leads.custom, '$.' || json_quote(:param_4)) WHEN 'true' THEN 1 WHEN 'false' THEN 0 END = :flag_14) THEN :points_15 ELSE :param_5 END > :n_16 ORDER BY leads.id
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
--   coalesce_2 = 0.0
--   at_10 = datetime.datetime(2026, 11, 23, 10, 0, tzinfo=datetime.timezone.utc)
--   type_11 = 'page_view'
--   type_12 = 'email_open'
--   type_13 = 'sales_call'
--   param_4 = 'vip'
--   flag_14 = True
--   points_15 = -3.0
--   param_5 = 0.0
--   n_16 = 2
