-- Foundation: audit log, idempotency keys, exactly-once scheduled jobs.

CREATE TABLE audit_log (
    id          bigserial PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    request_id  text,
    kind        text NOT NULL,          -- command | action | view | event | webhook | job
    action      text NOT NULL,          -- "/incident", "oncall_override_cancel", "hooks/deploy", ...
    actor       text,                   -- Slack user id, webhook source or replica id
    channel     text,
    detail      jsonb NOT NULL DEFAULT '{}'::jsonb,
    outcome     text NOT NULL           -- ok | usage_error | refused | unavailable | error | duplicate
);
CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX audit_log_action ON audit_log (action, at);

-- One row per thing that must happen once: a Slack delivery (event_id / trigger_id), a click, a callback.
CREATE TABLE idempotency_keys (
    key         text PRIMARY KEY,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- Recurring jobs: the next time each is due. Claimed with FOR UPDATE SKIP LOCKED by whichever
-- replica ticks first; missed ticks collapse into one run (next_due_at is computed from "now").
CREATE TABLE job_schedules (
    job          text PRIMARY KEY,
    spec         text NOT NULL,         -- what the schedule was computed from; a change recomputes it
    next_due_at  timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now()
);

-- Every run of every job, recurring or one-off. (job, run_key) is unique, so a run exists once.
CREATE TABLE job_runs (
    id           bigserial PRIMARY KEY,
    job          text NOT NULL,
    run_key      text NOT NULL,
    due_at       timestamptz NOT NULL,
    payload      jsonb NOT NULL DEFAULT '{}'::jsonb,
    status       text NOT NULL DEFAULT 'pending'
                 CHECK (status IN ('pending', 'running', 'done', 'failed', 'cancelled')),
    attempts     integer NOT NULL DEFAULT 0,
    claimed_by   text,
    claimed_at   timestamptz,
    finished_at  timestamptz,
    last_error   text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (job, run_key)
);
CREATE INDEX job_runs_due ON job_runs (due_at) WHERE status IN ('pending', 'running');
