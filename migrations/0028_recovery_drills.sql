-- Recovery drills (`/runbook drill <slug>`): a runbook run marked as a drill, and what it measured against the
-- targets of the time (config recovery.rto / recovery.rpo). The step times are the run's runbook_steps.

ALTER TABLE runbook_runs ADD COLUMN drill boolean NOT NULL DEFAULT false;

CREATE TABLE recovery_drills (
    run_id            bigint PRIMARY KEY REFERENCES runbook_runs (id),
    runbook           text NOT NULL,                 -- slug
    started_by        text NOT NULL,
    started_at        timestamptz NOT NULL,
    finished_at       timestamptz,                   -- the last step recorded: restore time = finished - started
    rto               interval NOT NULL,             -- the targets when the drill started
    rpo               interval NOT NULL,
    data_age          interval,                      -- the restored data's age, as told at the end
    data_age_by       text,
    recorded_at       timestamptz,                   -- when the data age was told: the result is then posted
    posted_here       boolean NOT NULL DEFAULT false,  -- the result in the drill's channel
    monthly_post_id   bigint,                        -- the monthly checklist whose thread had the result
    posted_monthly    boolean NOT NULL DEFAULT false
);
CREATE INDEX recovery_drills_started ON recovery_drills (started_at DESC);
