-- Alerts from Alertmanager and Grafana: every delivery as received, one row per firing episode, digests for
-- storms, and the per-channel pace of what is posted to Slack.

-- Each webhook delivery, stored before it is answered; processed by the job runner.
CREATE TABLE alert_deliveries (
    id            bigserial PRIMARY KEY,
    source        text NOT NULL CHECK (source IN ('alertmanager', 'grafana')),
    received_at   timestamptz NOT NULL,
    group_key     text,
    alert_count   integer NOT NULL,
    body          jsonb NOT NULL,
    processed_at  timestamptz
);

-- Groups seen in deliveries: a storm in one group becomes one digest message.
CREATE TABLE alert_digests (
    id            bigserial PRIMARY KEY,
    group_key     text NOT NULL,
    group_labels  jsonb NOT NULL DEFAULT '{}',
    channel       text NOT NULL,            -- as configured (the pace is kept per configured channel)
    message_channel text,                   -- the channel id Slack answered with
    message_ts    text,
    opened_at     timestamptz NOT NULL,
    closed_at     timestamptz,               -- every alert in it resolved
    acknowledged_at timestamptz,
    acknowledged_by text,
    version       integer NOT NULL DEFAULT 1,
    sent_version  integer NOT NULL DEFAULT 0,
    dirty_at      timestamptz,
    send_error    text
);
CREATE UNIQUE INDEX alert_digests_one_open ON alert_digests (group_key) WHERE closed_at IS NULL;

-- One row per firing episode: (source, fingerprint, starts_at). A repeated or stale delivery changes nothing.
CREATE TABLE alerts (
    id              bigserial PRIMARY KEY,
    source          text NOT NULL,
    fingerprint     text NOT NULL,
    starts_at       timestamptz NOT NULL,
    alertname       text NOT NULL,
    labels          jsonb NOT NULL,
    annotations     jsonb NOT NULL,
    generator_url   text,
    values_text     text,                     -- Grafana's values, as shown
    group_key       text,
    status          text NOT NULL CHECK (status IN ('firing', 'resolved')),
    ends_at         timestamptz,              -- when it resolved, by the sender's clock
    resolved_seen_at timestamptz,
    priority        text NOT NULL,
    response_time   interval NOT NULL,
    rule            text,                     -- the config row that matched, if any
    runbook         text,                     -- a runbook slug the config maps it to
    runbook_url     text,
    channel         text NOT NULL,
    digest_id       bigint REFERENCES alert_digests (id),
    message_channel text,
    message_ts      text,
    root_id         bigint REFERENCES alerts (id),  -- the first episode of this fingerprint: its thread
    previous_id     bigint REFERENCES alerts (id),
    episode         integer NOT NULL DEFAULT 1,
    flapping        boolean NOT NULL DEFAULT false,
    primary_user    text,                     -- the on-call primary when it started
    acknowledged_at timestamptz,
    acknowledged_by text,
    silence_id      text,
    silenced_until  timestamptz,
    silenced_by     text,
    deploy_id       bigint REFERENCES deploys (id),
    incident_id     bigint REFERENCES incidents (id),
    version         integer NOT NULL DEFAULT 1,
    sent_version    integer NOT NULL DEFAULT 0,
    dirty_at        timestamptz,
    send_error      text,
    created_at      timestamptz NOT NULL,
    UNIQUE (source, fingerprint, starts_at)
);
CREATE INDEX alerts_firing ON alerts (priority, starts_at) WHERE status = 'firing';
CREATE INDEX alerts_fingerprint ON alerts (source, fingerprint, starts_at DESC);
CREATE INDEX alerts_unsent ON alerts (channel, dirty_at) WHERE version > sent_version;
CREATE INDEX alerts_digest ON alerts (digest_id) WHERE digest_id IS NOT NULL;
CREATE INDEX alerts_recent ON alerts (created_at DESC);

-- Slack allows about one message per second per channel: the next moment this channel may be written to.
CREATE TABLE alert_channels (
    channel   text PRIMARY KEY,
    next_at   timestamptz NOT NULL,     -- by the world's clock: Slack's pace
    retry_at  timestamptz               -- after an outage, not before this (the bot's clock): a backoff
);
