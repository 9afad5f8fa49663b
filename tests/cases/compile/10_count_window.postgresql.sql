SELECT leads.id 
FROM leads 
WHERE leads.id IN (SELECT e1.lead_id 
FROM events AS e1 
WHERE e1.occurred_at <= %(at_2)s::TIMESTAMP WITH TIME ZONE AND e1.occurred_at > %(since_3)s::TIMESTAMP WITH TIME ZONE AND e1.type = %(type_4)s::VARCHAR AND lower(e1.url COLLATE "C") LIKE %(pattern_5)s::VARCHAR ESCAPE '!' GROUP BY e1.lead_id 
HAVING count(*) >= %(n_6)s::INTEGER) ORDER BY leads.id
-- parameters:
--   at_2 = datetime.datetime(2026, 11, 23, 10, 0, tzinfo=datetime.timezone.utc)
--   since_3 = datetime.datetime(2026, 8, 25, 10, 0, tzinfo=datetime.timezone.utc)
--   type_4 = 'page_view'
--   pattern_5 = '/pricing%'
--   n_6 = 5
