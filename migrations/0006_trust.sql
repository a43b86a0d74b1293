-- Trust: override requests, one record per page, requests for command, a deploy's pipeline acceptance.

-- An override someone asks for (taking another's shift) exists only once the one replaced accepts it.
ALTER TABLE oncall_overrides
    ADD COLUMN status      text NOT NULL DEFAULT 'accepted'
                           CHECK (status IN ('requested', 'accepted', 'declined')),
    ADD COLUMN approver    text,            -- who must accept a request: the engineer replaced
    ADD COLUMN decided_by  text,
    ADD COLUMN decided_at  timestamptz;

-- Every page: who, why, how often tried, whether Slack took it. Undelivered ones are retried by a job.
CREATE TABLE incident_pages (
    id            bigserial PRIMARY KEY,
    incident_id   bigint NOT NULL REFERENCES incidents (id),
    page_key      text NOT NULL UNIQUE,    -- <incident>:<reason key>:<user>: one page per person per reason
    user_id       text NOT NULL,
    role          text NOT NULL,
    reason        text NOT NULL,
    attempts      integer NOT NULL DEFAULT 0,
    last_error    text,
    delivered_at  timestamptz,
    created_at    timestamptz NOT NULL
);
CREATE INDEX incident_pages_incident ON incident_pages (incident_id, id);

-- "Take command" by someone the policy does not let take it: the commander hands over or keeps it.
CREATE TABLE incident_command_requests (
    id            bigserial PRIMARY KEY,
    incident_id   bigint NOT NULL REFERENCES incidents (id),
    requested_by  text NOT NULL,
    requested_at  timestamptz NOT NULL,
    commander     text NOT NULL,           -- whom it was asked of
    answer        text CHECK (answer IN ('handed_over', 'kept', 'moot')),
    answered_by   text,
    answered_at   timestamptz
);
-- One open request per person per incident: a double click asks once.
CREATE UNIQUE INDEX incident_command_requests_open ON incident_command_requests (incident_id, requested_by)
    WHERE answer IS NULL;

-- When the pipeline accepted a deploy's trigger; a running deploy without it has an unknown outcome.
ALTER TABLE deploys
    ADD COLUMN pipeline_accepted_at  timestamptz,
    ADD COLUMN outcome_unknown_at    timestamptz;

-- Jobs that must resume quickly after a crash (an incident's set-up) renew a short lease while they run.
ALTER TABLE job_runs ADD COLUMN lease_seconds double precision;

-- The reporter has been given the declaration's answer (by response_url, or a DM when that is gone).
ALTER TABLE incidents ADD COLUMN reporter_answered_at timestamptz;
