-- Deploys and rollbacks: one row each, their checklists, and the one-at-a-time lock per environment.

CREATE TABLE deploys (
    id             bigserial PRIMARY KEY,
    environment    text NOT NULL,
    version        text NOT NULL,
    kind           text NOT NULL DEFAULT 'deploy' CHECK (kind IN ('deploy', 'rollback')),
    status         text NOT NULL DEFAULT 'pending'
                   CHECK (status IN ('pending', 'running', 'succeeded', 'failed', 'cancelled')),
    request_key    text NOT NULL UNIQUE,    -- one deploy per command, one rollback per confirmed click
    requested_by   text NOT NULL,
    forced_reason  text,                    -- prod without staging validation, and why
    rollback_of    bigint REFERENCES deploys (id),
    reason         text,                    -- why a rollback
    channel        text,
    message_ts     text,
    started_by     text,
    started_at     timestamptz,
    finished_at    timestamptz,
    finished_by    text,                    -- the pipeline, or who clicked Mark deployed / Mark failed
    url            text,
    detail         text,
    validated_at   timestamptz,             -- staging: the validation checklist is complete
    watch_until    timestamptz,             -- prod: end of the post-deployment watch window
    watch_result   text,
    created_at     timestamptz NOT NULL
);
-- The lock: at most one deploy or rollback pending or running per environment.
CREATE UNIQUE INDEX deploys_one_active ON deploys (environment) WHERE status IN ('pending', 'running');
CREATE INDEX deploys_env_finished ON deploys (environment, finished_at) WHERE status = 'succeeded';

CREATE TABLE deploy_checks (
    deploy_id  bigint NOT NULL REFERENCES deploys (id),
    list       text NOT NULL,               -- pre | staging | post | verify
    item       text NOT NULL,
    ticked_by  text NOT NULL,
    ticked_at  timestamptz NOT NULL,
    PRIMARY KEY (deploy_id, list, item)
);
