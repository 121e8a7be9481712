-- Indexes for GET /v1/stats: each query reads one clinic's rows of one period as a range scan
-- instead of every row of the clinic.

-- The period's notifications, and through `attempts_notification` their attempts (attempts carry
-- no clinic_id): counts, hand-over→delivered/read times, fallbacks, reminders' read hours.
-- `notifications_clinic_status` leads with the status, so it cannot serve a period across all
-- statuses.
CREATE INDEX notifications_clinic_created ON notifications (clinic_id, created_at);

-- Auto replies (and staff replies) of the period: a few in a thousand notifications, so they are
-- counted without reading the period's booking-system notifications.
CREATE INDEX notifications_clinic_replies ON notifications (clinic_id, created_at)
    WHERE origin <> 'api';

-- Conversation events of one kind in a period (overdue waits): only events that belong to a
-- conversation carry a clinic_id, so the index leaves out every notification event.
CREATE INDEX events_conversation_kind ON events (clinic_id, kind, at)
    WHERE clinic_id IS NOT NULL;
