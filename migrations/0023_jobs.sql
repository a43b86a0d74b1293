-- The job runner prunes finished runs of recurring jobs daily (jobs.PRUNE): it finds them by job and by when they
-- finished (cancelled runs before this migration have no finished_at: their due time stands in).
CREATE INDEX job_runs_finished ON job_runs (job, (coalesce(finished_at, due_at)))
    WHERE status IN ('done', 'cancelled', 'failed');
