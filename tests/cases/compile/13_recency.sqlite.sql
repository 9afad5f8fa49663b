SELECT leads.id 
FROM leads 
WHERE (EXISTS (SELECT * 
FROM events AS e5 
WHERE e5.lead_id = leads.id AND e5.occurred_at <= :at_6 AND e5.type = :type_7)) AND NOT (EXISTS (SELECT * 
FROM events AS e1 
WHERE e1.lead_id = leads.id AND e1.occurred_at <= :at_2 AND e1.type = :type_3 AND e1.occurred_at >= :cutoff_4)) OR (EXISTS (SELECT * 
FROM events AS e8 
WHERE e8.lead_id = leads.id AND e8.occurred_at <= :at_9 AND e8.type = :type_10 AND e8.occurred_at >= :cutoff_11)) ORDER BY leads.id
-- parameters:
--   at_6 = datetime.datetime(2026, 11, 23, 10, 0, tzinfo=datetime.timezone.utc)
--   type_7 = 'email_click'
--   at_2 = datetime.datetime(2026, 11, 23, 10, 0, tzinfo=datetime.timezone.utc)
--   type_3 = 'email_click'
--   cutoff_4 = datetime.datetime(2026, 9, 24, 10, 0, tzinfo=datetime.timezone.utc)
--   at_9 = datetime.datetime(2026, 11, 23, 10, 0, tzinfo=datetime.timezone.utc)
--   type_10 = 'page_view'
--   cutoff_11 = datetime.datetime(2026, 11, 16, 10, 0, tzinfo=datetime.timezone.utc)
