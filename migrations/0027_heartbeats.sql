-- Heartbeats (dead man's switches) for scheduled work, the backups first: each run a scheduled job reported
-- (POST /hooks/heartbeat/<name>) or Prometheus showed, and per job what the bot watches: its last success, the
-- alert it raised while late or failed (the alerts pipeline knows it by source 'heartbeat', fingerprint
-- 'heartbeat:<name>' and its starts_at), and the daily checklists whose backup item it checked.

CREATE TABLE heartbeat_runs (
    id           bigserial PRIMARY KEY,
    name         text NOT NULL,
    at           timestamptz NOT NULL,          -- when it ran (received, or Prometheus's last success)
    ok           boolean NOT NULL,
    message      text,
    size_bytes   bigint CHECK (size_bytes >= 0),
    source       text NOT NULL CHECK (source IN ('hook', 'prometheus')),
    received_at  timestamptz NOT NULL
);
CREATE INDEX heartbeat_runs_name ON heartbeat_runs (name, at DESC);

CREATE TABLE heartbeats (
    name              text PRIMARY KEY,
    last_success_at   timestamptz,
    last_run_id       bigint REFERENCES heartbeat_runs (id),
    alert_starts_at   timestamptz,              -- the open alert's episode (NULL: none open)
    alert_reason      text CHECK (alert_reason IN ('late', 'failed')),
    updated_at        timestamptz NOT NULL
);

-- The daily checklist's "Verify backup completion": checked once when posted, again when a late backup reports.
CREATE TABLE heartbeat_checklists (
    post_id      bigint PRIMARY KEY REFERENCES maintenance_posts (id),
    deadline_at  timestamptz NOT NULL,
    item         integer NOT NULL,
    checked_at   timestamptz NOT NULL,
    said_late    text,                          -- what the thread was told was late
    ticked_at    timestamptz                    -- when the bot ticked the item
);

-- An item the bot ticked says what it checked (the backups' last runs).
ALTER TABLE maintenance_items ADD COLUMN note text;

-- Alerts the bot raises itself (a heartbeat late or failed) go through the same pipeline as Alertmanager's.
ALTER TABLE alert_deliveries DROP CONSTRAINT alert_deliveries_source_check;
ALTER TABLE alert_deliveries ADD CONSTRAINT alert_deliveries_source_check
    CHECK (source IN ('alertmanager', 'grafana', 'heartbeat'));
