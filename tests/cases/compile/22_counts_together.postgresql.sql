SELECT leads.id 
FROM leads 
WHERE leads.id IN (SELECT e1.lead_id 
FROM events AS e1 
WHERE e1.occurred_at <= %(at_2)s::TIMESTAMP WITH TIME ZONE AND e1.occurred_at > %(since_3)s::TIMESTAMP WITH TIME ZONE AND e1.type = %(type_4)s::VARCHAR AND (lower(e1.url COLLATE "C") LIKE %(pattern_5)s::VARCHAR ESCAPE '!' OR lower(e1.url COLLATE "C") LIKE %(pattern_6)s::VARCHAR ESCAPE '!') GROUP BY e1.lead_id 
HAVING count(*) FILTER (WHERE lower(e1.url COLLATE "C") LIKE %(pattern_5)s::VARCHAR ESCAPE '!') >= %(n_7)s::INTEGER OR count(*) FILTER (WHERE lower(e1.url COLLATE "C") LIKE %(pattern_6)s::VARCHAR ESCAPE '!') >= %(n_8)s::INTEGER) OR leads.id IN (SELECT e9.lead_id 
FROM events AS e9 
WHERE e9.occurred_at <= %(at_10)s::TIMESTAMP WITH TIME ZONE AND e9.occurred_at > %(since_11)s::TIMESTAMP WITH TIME ZONE AND e9.type = %(type_12)s::VARCHAR GROUP BY e9.lead_id 
HAVING count(*) >= %(n_13)s::INTEGER) ORDER BY leads.id
-- parameters:
--   at_2 = datetime.datetime(2026, 11, 23, 10, 0, tzinfo=datetime.timezone.utc)
--   since_3 = datetime.datetime(2026, 10, 24, 10, 0, tzinfo=datetime.timezone.utc)
--   type_4 = 'page_view'
--   pattern_5 = '/pricing%'
--   pattern_6 = '/compare%'
--   n_7 = 3
--   n_8 = 2
--   at_10 = datetime.datetime(2026, 11, 23, 10, 0, tzinfo=datetime.timezone.utc)
--   since_11 = datetime.datetime(2026, 11, 16, 10, 0, tzinfo=datetime.timezone.utc)
--   type_12 = 'page_view'
--   n_13 = 2
