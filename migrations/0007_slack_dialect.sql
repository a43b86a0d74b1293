-- Post-mortem action items can be closed, have a due date, and remind their owner when due.
ALTER TABLE incident_actions
    ADD COLUMN due_on      date,
    ADD COLUMN done_by     text,
    ADD COLUMN reminded_at timestamptz;
