-- Acknowledgements that expire (alerts and incidents): when the current acknowledgement runs out, who snoozed
-- its reminder and until when, and the reminder posted for it (so a retried run does not post it twice).
-- `ack_since`: when the current window began (the acknowledgement, a renewal, a snooze, an incident's last activity).
ALTER TABLE alerts
    ADD COLUMN ack_since       timestamptz,
    ADD COLUMN ack_expires_at  timestamptz,
    ADD COLUMN snoozed_until   timestamptz,
    ADD COLUMN snoozed_by      text,
    ADD COLUMN ack_reminder_ts text;

ALTER TABLE incidents
    ADD COLUMN ack_since       timestamptz,
    ADD COLUMN ack_expires_at  timestamptz,
    ADD COLUMN snoozed_until   timestamptz,
    ADD COLUMN snoozed_by      text,
    ADD COLUMN ack_reminder_ts text;
