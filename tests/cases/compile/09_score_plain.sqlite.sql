SELECT leads.id 
FROM leads 
WHERE (SELECT coalesce(sum(CASE WHEN (e1.type = :type_2) THEN :points_3 ELSE :param_1 END + CASE WHEN (e1.type = :type_4 AND e1.template = :text_5) THEN :points_6 ELSE :param_2 END + CASE WHEN (e1.type = :type_7 AND e1.occurred_at > :since_8) THEN :points_9 ELSE :param_3 END), :coalesce_2) AS coalesce_1 
FROM events AS e1 
WHERE e1.lead_id = leads.id AND e1.occurred_at <= :at_10 AND e1.type IN (:type_11, :type_12, :type_13)) + CASE WHEN coalesce(CASE json_type(leads.custom, '$.' || json_quote(:param_4)) WHEN 'true' THEN 1 WHEN 'false' THEN 0 END = :flag_14, 0) THEN :points_15 ELSE :param_5 END > :n_16 ORDER BY leads.id
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
