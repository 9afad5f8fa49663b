SELECT leads.id 
FROM leads 
WHERE (EXISTS (SELECT * 
FROM events AS e1 
WHERE e1.lead_id = leads.id AND e1.occurred_at <= :at_2 AND e1.type = :type_3 AND e1.occurred_at >= :cutoff_4)) OR (EXISTS (SELECT * 
FROM events AS e9 
WHERE e9.lead_id = leads.id AND e9.occurred_at <= :at_10 AND e9.type = :type_11 AND e9.machine IS NOT 1)) AND NOT (EXISTS (SELECT * 
FROM events AS e5 
WHERE e5.lead_id = leads.id AND e5.occurred_at <= :at_6 AND e5.type = :type_7 AND e5.machine IS NOT 1 AND e5.occurred_at >= :cutoff_8)) ORDER BY leads.id
-- parameters:
--   at_2 = datetime.datetime(2026, 11, 23, 10, 0, tzinfo=datetime.timezone.utc)
--   type_3 = 'page_view'
--   cutoff_4 = datetime.datetime(2026, 11, 16, 10, 0, tzinfo=datetime.timezone.utc)
--   at_10 = datetime.datetime(2026, 11, 23, 10, 0, tzinfo=datetime.timezone.utc)
--   type_11 = 'email_click'
--   at_6 = datetime.datetime(2026, 11, 23, 10, 0, tzinfo=datetime.timezone.utc)
--   type_7 = 'email_click'
--   cutoff_8 = datetime.datetime(2026, 9, 24, 10, 0, tzinfo=datetime.timezone.utc)
