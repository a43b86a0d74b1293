-- PagerDuty v3 webhooks are matched exactly: an event is about one of the bot's incidents or paged alerts only when
-- its PagerDuty incident is the one the bot's own trigger opened, i.e. its incident_key (the Events API dedup_key)
-- is the bot's (INC-<n>, ALERT-<id>), or its PagerDuty incident id was recorded here from an earlier event that had
-- that key. Titles never match. And a delivery that cannot be applied says so, instead of waiting forever.

CREATE TABLE pagerduty_matches (
    pd_incident_id  text PRIMARY KEY,       -- PagerDuty's incident id (event.data.id)
    dedup_key       text NOT NULL,          -- the bot's key it was first matched by
    incident_id     bigint REFERENCES incidents (id),
    alert_id        bigint REFERENCES alerts (id),
    matched_at      timestamptz NOT NULL,
    CONSTRAINT pagerduty_matches_owner CHECK ((incident_id IS NULL) <> (alert_id IS NULL))
);

-- The bot's triggers, found by the dedup key that PagerDuty sends back as incident_key.
CREATE INDEX pagerduty_events_trigger_key ON pagerduty_events ((body ->> 'dedup_key')) WHERE action = 'trigger';

ALTER TABLE pagerduty_webhooks ADD COLUMN attempts integer NOT NULL DEFAULT 0;  -- tries that failed to apply it
ALTER TABLE pagerduty_webhooks ADD COLUMN error text;  -- the last failure; outcome 'failed' once given up
