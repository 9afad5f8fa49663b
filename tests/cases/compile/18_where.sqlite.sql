SELECT leads.id 
FROM leads 
WHERE EXISTS (SELECT * 
FROM events AS e1 
WHERE e1.lead_id = leads.id AND e1.occurred_at <= :at_2 AND e1.type = :type_3 AND e1.asset LIKE :pattern_4 ESCAPE '!' AND e1.campaign != :text_5) ORDER BY leads.id
-- parameters:
--   at_2 = datetime.datetime(2026, 11, 23, 10, 0, tzinfo=datetime.timezone.utc)
--   type_3 = 'download'
--   pattern_4 = 'wp-%'
--   text_5 = 'x'
