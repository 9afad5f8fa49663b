SELECT leads.id 
FROM leads 
WHERE (SELECT count(*) AS count_1 
FROM events AS e1 
WHERE e1.lead_id = leads.id AND e1.occurred_at <= %(at_2)s::TIMESTAMP WITH TIME ZONE AND e1.occurred_at > %(since_3)s::TIMESTAMP WITH TIME ZONE AND e1.type = %(type_4)s::VARCHAR AND e1.machine IS NOT true) <= %(n_5)s::INTEGER ORDER BY leads.id
-- parameters:
--   at_2 = datetime.datetime(2026, 11, 23, 10, 0, tzinfo=datetime.timezone.utc)
--   since_3 = datetime.datetime(2026, 10, 24, 10, 0, tzinfo=datetime.timezone.utc)
--   type_4 = 'email_click'
--   n_5 = 2
