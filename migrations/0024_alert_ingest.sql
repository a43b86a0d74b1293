-- Alert deliveries the bot could not take whole. An unreadable alert (a time out of range, no labels, a wrong
-- type) is set aside with its reason while its neighbours go through; alerts past the bot's limits (count or
-- size) and alerts the sender left out itself (Alertmanager's max_alerts) are counted. Each such delivery gets
-- one note, said once in the alerts channel.
CREATE TABLE alert_ingest_notes (
    id              bigserial PRIMARY KEY,
    source          text NOT NULL CHECK (source IN ('alertmanager', 'grafana')),
    delivery_id     bigint REFERENCES alert_deliveries (id),  -- NULL: nothing of the delivery could be stored
    received_at     timestamptz NOT NULL,
    receiver        text NOT NULL DEFAULT '',
    group_key       text,
    alert_count     integer NOT NULL,         -- alerts in the delivery as sent
    accepted        integer NOT NULL,
    unreadable      integer NOT NULL,
    over_limit      integer NOT NULL,         -- past the bot's limits, not read
    truncated       integer NOT NULL,         -- left out by the sender itself
    limit_reason    text,
    repeat_key      text NOT NULL,            -- the same trouble in the same group: said once per few hours
    said            boolean NOT NULL,         -- false: a repeat, recorded and not posted
    channel         text NOT NULL,
    message_channel text,
    message_ts      text,
    send_error      text
);
CREATE INDEX alert_ingest_notes_repeat ON alert_ingest_notes (repeat_key, received_at DESC);

-- The unreadable alerts themselves, as received (NUL shown as U+FFFD), so nothing sent is lost to the record.
CREATE TABLE alert_rejects (
    id        bigserial PRIMARY KEY,
    note_id   bigint NOT NULL REFERENCES alert_ingest_notes (id),
    position  integer NOT NULL,               -- its index in the delivery's alerts
    reason    text NOT NULL,                  -- `field: what is wrong`
    raw       text NOT NULL                   -- the alert's JSON, cut at 8 KiB
);
CREATE INDEX alert_rejects_note ON alert_rejects (note_id);
