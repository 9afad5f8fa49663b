SELECT leads.id 
FROM leads 
WHERE leads.stage = %(text_1)s::VARCHAR AND NOT (EXISTS (SELECT * 
FROM events AS e2 
WHERE e2.lead_id = leads.id AND e2.occurred_at <= %(at_3)s::TIMESTAMP WITH TIME ZONE AND e2.occurred_at > %(since_4)s::TIMESTAMP WITH TIME ZONE AND e2.type IN (%(type_5)s::VARCHAR, %(type_6)s::VARCHAR, %(type_7)s::VARCHAR, %(type_8)s::VARCHAR, %(type_9)s::VARCHAR, %(type_10)s::VARCHAR, %(type_11)s::VARCHAR) AND (e2.type IN (%(type_12)s::VARCHAR, %(type_13)s::VARCHAR, %(type_14)s::VARCHAR, %(type_15)s::VARCHAR, %(type_16)s::VARCHAR) OR e2.machine IS NOT true))) ORDER BY leads.id
-- parameters:
--   text_1 = 'customer'
--   at_3 = datetime.datetime(2026, 11, 23, 10, 0, tzinfo=datetime.timezone.utc)
--   since_4 = datetime.datetime(2026, 5, 27, 10, 0, tzinfo=datetime.timezone.utc)
--   type_5 = 'email_open'
--   type_6 = 'email_click'
--   type_7 = 'page_view'
--   type_8 = 'download'
--   type_9 = 'form_submit'
--   type_10 = 'seminar'
--   type_11 = 'exhibition'
--   type_12 = 'page_view'
--   type_13 = 'download'
--   type_14 = 'form_submit'
--   type_15 = 'seminar'
--   type_16 = 'exhibition'
