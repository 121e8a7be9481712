-- FHIR searches (`/fhir/r4/Communication`, `/fhir/r4/CommunicationRequest`) read a clinic's
-- records in the order they last changed, from a cursor or a `_lastUpdated` bound. Without these
-- indexes every page read all of the clinic's notifications, attempts and messages and sorted
-- them (EXPLAIN QUERY PLAN: `USE TEMP B-TREE FOR ORDER BY` over a search by clinic alone), so a
-- client syncing every minute paid for the clinic's whole history each time. With them a page
-- is read from the index in order and stops at its last row.

CREATE INDEX notifications_updated ON notifications (clinic_id, updated_at, id);

-- Attempts have no clinic column: the index is read in order and each row kept when its
-- notification is the clinic's. Only attempts that reached a provider are Communications.
CREATE INDEX attempts_updated ON attempts (updated_at, id) WHERE started_at IS NOT NULL;

-- A patient's message last changed when it arrived, was answered or was handled, whichever is
-- latest; the expression is the one the search orders by (`MESSAGE_UPDATED`), word for word.
CREATE INDEX inbound_messages_updated ON inbound_messages (clinic_id, (CASE WHEN handled_at >= received_at
    AND handled_at >= COALESCE(answered_at, handled_at) THEN handled_at
    WHEN answered_at >= received_at THEN answered_at ELSE received_at END), id);
