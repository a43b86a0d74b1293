-- PagerDuty: every Events API v2 call the bot owes PagerDuty, sent in order per incident by a job.

CREATE TABLE pagerduty_events (
    id            bigserial PRIMARY KEY,
    incident_id   bigint NOT NULL REFERENCES incidents (id),
    event_key     text NOT NULL UNIQUE,    -- <incident>:<action>:<why>: one event per change, whatever the retries
    action        text NOT NULL CHECK (action IN ('trigger', 'acknowledge', 'resolve')),
    severity      text NOT NULL,           -- the incident's severity then: it chooses the routing key
    body          jsonb NOT NULL,          -- the event without its routing key (a secret, read at send time)
    attempts      integer NOT NULL DEFAULT 0,
    last_error    text,
    sent_at       timestamptz,             -- PagerDuty answered 202
    rejected_at   timestamptz,             -- PagerDuty answered 400: never sent again, told in the channel
    created_at    timestamptz NOT NULL
);
CREATE INDEX pagerduty_events_incident ON pagerduty_events (incident_id, id);
