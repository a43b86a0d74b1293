-- Incidents: the record, its timeline, stage checklists, follow-up actions.

CREATE TABLE incidents (
    id                    bigserial PRIMARY KEY,
    number                integer NOT NULL UNIQUE,
    declare_key           text NOT NULL UNIQUE,     -- one declaration per command / modal submission
    title                 text NOT NULL,
    description           text,
    severity              text NOT NULL CHECK (severity IN ('P1', 'P2', 'P3', 'P4')),
    status                text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'resolved')),
    stage                 text NOT NULL,
    commander             text NOT NULL,
    reporter              text NOT NULL,
    origin_channel        text,                     -- where it was declared (for the reporter's answers)
    channel_id            text UNIQUE,
    channel_name          text,
    kickoff_ts            text,
    announcement_channel  text,
    announcement_ts       text,
    paged_at              timestamptz,
    setup_error           text,                     -- what Slack refused, for the Retry button
    setup_claimed_at      timestamptz,              -- one setup (or retry) at a time
    declared_at           timestamptz NOT NULL,
    acknowledged_at       timestamptz,
    acknowledged_by       text,
    last_update_at        timestamptz NOT NULL,
    resolved_at           timestamptz,
    resolved_by           text,
    summary               text
);
CREATE SEQUENCE incident_numbers OWNED BY incidents.number;
CREATE INDEX incidents_open ON incidents (declared_at) WHERE status = 'open';

CREATE TABLE incident_events (
    id           bigserial PRIMARY KEY,
    incident_id  bigint NOT NULL REFERENCES incidents (id),
    at           timestamptz NOT NULL,
    actor        text,
    kind         text NOT NULL,   -- declared, acknowledged, update, severity, commander, stage, check, action,
                                  -- escalated, paged, resolved, setup_failed, runbook ...
    text         text NOT NULL,
    detail       jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX incident_events_incident ON incident_events (incident_id, at, id);

CREATE TABLE incident_checks (
    incident_id  bigint NOT NULL REFERENCES incidents (id),
    stage        integer NOT NULL,
    item         integer NOT NULL,
    ticked_by    text NOT NULL,
    ticked_at    timestamptz NOT NULL,
    PRIMARY KEY (incident_id, stage, item)
);

CREATE TABLE incident_actions (
    id           bigserial PRIMARY KEY,
    incident_id  bigint NOT NULL REFERENCES incidents (id),
    text         text NOT NULL,
    owner        text,
    created_by   text NOT NULL,
    created_at   timestamptz NOT NULL,
    done_at      timestamptz
);
CREATE INDEX incident_actions_open ON incident_actions (incident_id) WHERE done_at IS NULL;
