-- On-call calendar feeds: each person's secret links (GET /oncall.ics?token=…), one for their own shifts and one
-- for the whole team's. Only a hash of each token is kept: a link is shown once (in a DM), and a copy of the
-- database is no way into anyone's feed. `/oncall calendar rotate` revokes a person's links and issues new ones.
CREATE TABLE oncall_calendar_tokens (
    id          bigserial PRIMARY KEY,
    user_id     text NOT NULL,
    scope       text NOT NULL CHECK (scope IN ('person', 'team')),
    token_hash  bytea NOT NULL UNIQUE,       -- sha256 of the token
    created_at  timestamptz NOT NULL,
    sent_at     timestamptz,                 -- when the DM with it went out (unsent: issued again)
    revoked_at  timestamptz
);
-- One live link per person and scope.
CREATE UNIQUE INDEX oncall_calendar_tokens_live ON oncall_calendar_tokens (user_id, scope) WHERE revoked_at IS NULL;
