SELECT leads.id 
FROM leads 
WHERE (SELECT count(*) FILTER (WHERE e1.url LIKE :pattern_5 ESCAPE '!') >= :n_7 OR count(*) FILTER (WHERE e1.url LIKE :pattern_6 ESCAPE '!') >= :n_8 AS anon_1 
FROM events AS e1 
WHERE e1.lead_id = leads.id AND e1.occurred_at <= :at_2 AND e1.occurred_at > :since_3 AND e1.type = :type_4 AND (e1.url LIKE :pattern_5 ESCAPE '!' OR e1.url LIKE :pattern_6 ESCAPE '!')) OR (SELECT count(*) AS count_1 
FROM events AS e9 
WHERE e9.lead_id = leads.id AND e9.occurred_at <= :at_10 AND e9.occurred_at > :since_11 AND e9.type = :type_12) >= :n_13 ORDER BY leads.id
-- parameters:
--   pattern_5 = '/pricing%'
--   n_7 = 3
--   pattern_6 = '/compare%'
--   n_8 = 2
--   at_2 = datetime.datetime(2026, 11, 23, 10, 0, tzinfo=datetime.timezone.utc)
--   since_3 = datetime.datetime(2026, 10, 24, 10, 0, tzinfo=datetime.timezone.utc)
--   type_4 = 'page_view'
--   at_10 = datetime.datetime(2026, 11, 23, 10, 0, tzinfo=datetime.timezone.utc)
--   since_11 = datetime.datetime(2026, 11, 16, 10, 0, tzinfo=datetime.timezone.utc)
--   type_12 = 'page_view'
--   n_13 = 2
