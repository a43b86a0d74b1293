-- Follow-through (issue 26): an environment a rollback pinned to an older version, until another version is
-- deployed there; the fix-forward action item made once per rollback; messages pinned into an incident's timeline.

-- A rollback's pin. Written with the rollback; held from its success (pinned_at) until a deploy of another version
-- to the environment succeeds (cleared_at, cleared_by). At most one is held per environment.
CREATE TABLE deploy_pins (
    rollback_id   bigint PRIMARY KEY REFERENCES deploys (id),
    environment   text NOT NULL,
    version       text NOT NULL,                      -- vX: what the rollback put back
    from_id       bigint NOT NULL REFERENCES deploys (id),
    from_version  text NOT NULL,                      -- vY: what it rolled back from
    owner         text NOT NULL,                      -- who deployed vY: fix forward or revert it
    incident_id   bigint,                             -- the incident the rollback belongs to, if any
    incident_ref  text,                               -- its INC-n, as shown
    note_ts       text,                               -- no incident: the fix-forward note in vY's deploy thread
    created_at    timestamptz NOT NULL,
    pinned_at     timestamptz,
    cleared_at    timestamptz,
    cleared_by    bigint REFERENCES deploys (id)
);
CREATE INDEX deploy_pins_held ON deploy_pins (environment) WHERE pinned_at IS NOT NULL AND cleared_at IS NULL;

-- An action item the bot makes for something that happened (a rollback's fix forward): made once per source.
ALTER TABLE incident_actions ADD COLUMN source_key text;
CREATE UNIQUE INDEX incident_actions_source ON incident_actions (source_key) WHERE source_key IS NOT NULL;

-- A message of an incident channel in the incident's timeline (a pushpin reaction or the Add to timeline shortcut):
-- one row per message, whoever pinned it and however often.
CREATE TABLE incident_pins (
    id           bigserial PRIMARY KEY,
    incident_id  bigint NOT NULL REFERENCES incidents (id),
    channel      text NOT NULL,
    message_ts   text NOT NULL,
    thread_ts    text,                                 -- the thread the message is in (the bot's replies go there)
    author       text,
    posted_at    timestamptz NOT NULL,
    permalink    text,
    text         text NOT NULL,                        -- safe mrkdwn, as Slack sent it
    event_id     bigint REFERENCES incident_events (id) ON DELETE SET NULL,  -- its timeline entry while pinned
    UNIQUE (incident_id, message_ts)
);

-- Who pins a message, and how: it stays in the timeline while one of them still does. `event_ts` is Slack's time
-- of the last change, so a late delivery of an older reaction event changes nothing.
CREATE TABLE incident_pinners (
    pin_id    bigint NOT NULL REFERENCES incident_pins (id),
    pinner    text NOT NULL,
    via       text NOT NULL CHECK (via IN ('reaction', 'shortcut')),
    pinned    boolean NOT NULL,
    event_ts  numeric NOT NULL,
    PRIMARY KEY (pin_id, pinner, via)
);
