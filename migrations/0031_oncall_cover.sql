-- Urgent cover: "take my pager now". Whoever is on call for a role (or a manager) asks; the request goes to the
-- rotation (a DM each) and, while a P1/P2 incident is open, to the incidents channel; the first member of the
-- rotation to press "I'll cover" gets an accepted override at once. Taking is one conditional UPDATE (status
-- 'open' -> 'taken'), so of two presses at once exactly one wins.

CREATE TABLE oncall_cover_requests (
    id            bigserial PRIMARY KEY,
    role          text NOT NULL CHECK (role IN ('primary', 'secondary')),
    replaced      text,                    -- who held the role when it was asked for
    requested_by  text NOT NULL,
    requested_at  timestamptz NOT NULL,
    ends_at       timestamptz NOT NULL,    -- the cover asked for ends here (at the latest, the shift's end)
    status        text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'taken', 'cancelled', 'expired')),
    taken_by      text,
    taken_at      timestamptz,
    override_id   bigint REFERENCES oncall_overrides (id),
    closed_by     text,                    -- who cancelled it (the bot for an expired one)
    closed_at     timestamptz,
    CHECK (ends_at > requested_at)
);
-- One open request per role: asking twice at once makes one request.
CREATE UNIQUE INDEX oncall_cover_requests_open ON oncall_cover_requests (role) WHERE status = 'open';

-- Every message that carries a request's button: a DM to a member of the rotation or the manager, or the
-- incidents channel. Each is posted by its own job and edited when the request is taken, cancelled or ends.
CREATE TABLE oncall_cover_posts (
    id            bigserial PRIMARY KEY,
    request_id    bigint NOT NULL REFERENCES oncall_cover_requests (id),
    target        text NOT NULL,           -- a user id (the DM) or the channel's configured name
    why           text NOT NULL CHECK (why IN ('rotation', 'incidents', 'manager')),
    channel_id    text,                    -- where Slack put it (a DM's D… id): what chat.update needs
    ts            text,
    posted_at     timestamptz,
    UNIQUE (request_id, target)
);
