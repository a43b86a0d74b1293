-- PagerDuty v3 webhooks: every delivery once (by PagerDuty's event id), and what PagerDuty last said of each
-- incident the bot paged, so a late or repeated delivery changes nothing. And P1 alerts that no incident is
-- declared for page through PagerDuty too: an event belongs to an incident or to an alert.

ALTER TABLE pagerduty_events ALTER COLUMN incident_id DROP NOT NULL;
ALTER TABLE pagerduty_events ADD COLUMN alert_id bigint REFERENCES alerts (id);
ALTER TABLE pagerduty_events ADD CONSTRAINT pagerduty_events_owner CHECK ((incident_id IS NULL) <> (alert_id IS NULL));
CREATE INDEX pagerduty_events_alert ON pagerduty_events (alert_id, id) WHERE alert_id IS NOT NULL;

CREATE TABLE pagerduty_webhooks (
    event_id        text PRIMARY KEY,        -- PagerDuty's event.id: a redelivery finds its row
    event_type      text NOT NULL,           -- incident.acknowledged, incident.resolved, ...
    occurred_at     timestamptz NOT NULL,
    body            jsonb NOT NULL,          -- the validated event, as PagerDuty sent it
    received_at     timestamptz NOT NULL,
    incident_id     bigint REFERENCES incidents (id),
    outcome         text,                    -- what it did (acknowledged, resolved, asked, posted, already, stale, ...)
    processed_at    timestamptz
);

CREATE TABLE pagerduty_incidents (
    incident_id     bigint PRIMARY KEY REFERENCES incidents (id),
    pd_incident_id  text NOT NULL,
    html_url        text,
    status          text NOT NULL CHECK (status IN ('triggered', 'acknowledged', 'resolved')),
    status_at       timestamptz NOT NULL     -- occurred_at of the event that told it: older events are stale
);
