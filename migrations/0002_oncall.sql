-- On-call: temporary overrides of the weekly rotation.

CREATE TABLE oncall_overrides (
    id            bigserial PRIMARY KEY,
    role          text NOT NULL CHECK (role IN ('primary', 'secondary', 'manager')),
    user_id       text NOT NULL,
    starts_at     timestamptz NOT NULL,
    ends_at       timestamptz NOT NULL,
    created_by    text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    cancelled_at  timestamptz,
    cancelled_by  text,
    CHECK (ends_at > starts_at)
);
-- Overlap for one role is refused by the flow under a per-role advisory transaction lock
-- (an exclusion constraint would need btree_gist, which not every PostgreSQL has installed).
CREATE INDEX oncall_overrides_active ON oncall_overrides (role, starts_at, ends_at) WHERE cancelled_at IS NULL;
