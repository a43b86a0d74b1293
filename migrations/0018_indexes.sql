-- Indexes that keep the costs of reads flat as history grows (bench/flat_costs.py measures them and prints the plans).

-- The week's incidents for the handoff summary: declared in the week OR resolved in it (a BitmapOr of the two).
CREATE INDEX incidents_declared_at ON incidents (declared_at);
CREATE INDEX incidents_resolved_at ON incidents (resolved_at) WHERE resolved_at IS NOT NULL;

-- Open action items of every incident, in order (handoff summary).
CREATE INDEX incident_actions_open_id ON incident_actions (id) WHERE done_at IS NULL;

-- /deploy history (all environments, or one), newest first.
CREATE INDEX deploys_created ON deploys (created_at DESC, id DESC);
CREATE INDEX deploys_env_created ON deploys (environment, created_at DESC, id DESC);
-- The last good versions of an environment (rollback target), newest first, in the order the query asks.
DROP INDEX IF EXISTS deploys_env_finished;
CREATE INDEX deploys_env_succeeded ON deploys (environment, finished_at DESC, id DESC) WHERE status = 'succeeded';
-- The version validated on staging before prod.
CREATE INDEX deploys_version ON deploys (version, environment) WHERE status = 'succeeded';
-- Post-deployment watches still running.
CREATE INDEX deploys_watching ON deploys (watch_until) WHERE watch_result IS NULL;

-- Overrides that still matter: those ending after now (who is on call, /oncall overrides).
CREATE INDEX oncall_overrides_ends ON oncall_overrides (ends_at) WHERE cancelled_at IS NULL AND status = 'accepted';

-- Cancelling a job's pending runs by key prefix looks at pending runs only, not the job's whole history.
CREATE INDEX job_runs_pending ON job_runs (job, run_key) WHERE status = 'pending';

-- The last post of a maintenance checklist; open checklists by deadline.
CREATE INDEX maintenance_posts_kind_posted ON maintenance_posts (kind, posted_at DESC, id DESC);
CREATE INDEX maintenance_posts_open ON maintenance_posts (deadline_at) WHERE completed_at IS NULL;
