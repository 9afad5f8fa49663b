SELECT leads.id 
FROM leads 
WHERE (SELECT count(*) AS count_1 
FROM events AS e1 
WHERE e1.lead_id = leads.id AND e1.occurred_at <= :at_2 AND e1.occurred_at > :since_3 AND e1.type = :type_4 AND e1.machine IS NOT 1) <= :n_5 ORDER BY leads.id
-- parameters:
--   at_2 = datetime.datetime(2026, 11, 23, 10, 0, tzinfo=datetime.timezone.utc)
--   since_3 = datetime.datetime(2026, 10, 24, 10, 0, tzinfo=datetime.timezone.utc)
--   type_4 = 'email_click'
--   n_5 = 2
