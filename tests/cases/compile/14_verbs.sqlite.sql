SELECT leads.id 
FROM leads 
WHERE (EXISTS (SELECT * 
FROM events AS e1 
WHERE e1.lead_id = leads.id AND e1.occurred_at <= :at_2 AND e1.occurred_at > :since_3 AND e1.type = :type_4 AND e1.flow = :flow_5 AND e1.step = :step_6)) OR (EXISTS (SELECT * 
FROM events AS e7 
WHERE e7.lead_id = leads.id AND e7.occurred_at <= :at_8 AND e7.type = :type_9 AND e7.url LIKE :pattern_10 ESCAPE '!')) ORDER BY leads.id
-- parameters:
--   at_2 = datetime.datetime(2026, 11, 23, 10, 0, tzinfo=datetime.timezone.utc)
--   since_3 = datetime.datetime(2026, 11, 16, 10, 0, tzinfo=datetime.timezone.utc)
--   type_4 = 'email_click'
--   flow_5 = 'nurture'
--   step_6 = 'intro'
--   at_8 = datetime.datetime(2026, 11, 23, 10, 0, tzinfo=datetime.timezone.utc)
--   type_9 = 'page_view'
--   pattern_10 = '/pricing%'
