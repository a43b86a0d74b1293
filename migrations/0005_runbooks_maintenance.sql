-- Runbook runs (step by step, who and when) and the maintenance checklists as posted.

CREATE TABLE runbook_runs (
    id           bigserial PRIMARY KEY,
    request_key  text NOT NULL UNIQUE,
    runbook      text NOT NULL,                 -- slug
    name         text NOT NULL,
    steps        jsonb NOT NULL,                -- the steps as they were when the run started
    channel      text NOT NULL,
    messages     jsonb NOT NULL DEFAULT '[]',   -- [{"ts": …, "first": i, "last": j}], one per page of steps
    incident_id  bigint REFERENCES incidents (id),
    started_by   text NOT NULL,
    started_at   timestamptz NOT NULL,
    finished_at  timestamptz
);
CREATE INDEX runbook_runs_open ON runbook_runs (started_at) WHERE finished_at IS NULL;

CREATE TABLE runbook_steps (
    run_id   bigint NOT NULL REFERENCES runbook_runs (id),
    step     integer NOT NULL,
    status   text NOT NULL CHECK (status IN ('done', 'skipped')),
    reason   text,
    by_user  text NOT NULL,
    at       timestamptz NOT NULL,
    PRIMARY KEY (run_id, step)
);

CREATE TABLE maintenance_posts (
    id           bigserial PRIMARY KEY,
    kind         text NOT NULL,                 -- daily | weekly | monthly
    due_at       timestamptz NOT NULL,          -- the scheduled time it stands for (or when it was asked for)
    items        jsonb NOT NULL,
    posted_at    timestamptz NOT NULL,
    deadline_at  timestamptz NOT NULL,
    late         boolean NOT NULL DEFAULT false,
    posted_by    text,                          -- null: posted on schedule
    channel      text,
    ts           text,
    completed_at timestamptz,
    nudged_at    timestamptz,
    UNIQUE (kind, due_at)
);

CREATE TABLE maintenance_items (
    post_id   bigint NOT NULL REFERENCES maintenance_posts (id),
    item      integer NOT NULL,
    assignee  text,
    done_by   text,
    done_at   timestamptz,
    PRIMARY KEY (post_id, item)
);
