SELECT leads.id 
FROM leads 
WHERE (EXISTS (SELECT * 
FROM events AS e1 
WHERE e1.lead_id = leads.id AND e1.occurred_at <= %(at_2)s::TIMESTAMP WITH TIME ZONE AND e1.occurred_at > %(since_3)s::TIMESTAMP WITH TIME ZONE AND e1.type = %(type_4)s::VARCHAR AND e1.machine IS NOT true AND e1.flow = %(flow_5)s::VARCHAR AND e1.step = %(step_6)s::VARCHAR AND e1.occurred_at >= (SELECT max(en7.entered_at) AS max_1 
FROM enrollments AS en7 
WHERE en7.flow = %(flow_8)s::VARCHAR AND en7.lead_id = e1.lead_id))) OR (EXISTS (SELECT * 
FROM events AS e9 
WHERE e9.lead_id = leads.id AND e9.occurred_at <= %(at_10)s::TIMESTAMP WITH TIME ZONE AND e9.type = %(type_11)s::VARCHAR AND lower(e9.url COLLATE "C") LIKE %(pattern_12)s::VARCHAR ESCAPE '!')) ORDER BY leads.id
-- parameters:
--   at_2 = datetime.datetime(2026, 11, 23, 10, 0, tzinfo=datetime.timezone.utc)
--   since_3 = datetime.datetime(2026, 11, 16, 10, 0, tzinfo=datetime.timezone.utc)
--   type_4 = 'email_click'
--   flow_5 = 'nurture'
--   step_6 = 'intro'
--   flow_8 = 'nurture'
--   at_10 = datetime.datetime(2026, 11, 23, 10, 0, tzinfo=datetime.timezone.utc)
--   type_11 = 'page_view'
--   pattern_12 = '/pricing%'
