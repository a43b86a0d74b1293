-- The public status page: what was published about an incident, and the stakeholder posts and reminders.

-- An incident appears on the status page once something was published about it.
CREATE TABLE status_incidents (
    incident_id   bigint PRIMARY KEY REFERENCES incidents (id),
    public_title  text NOT NULL,
    status        text NOT NULL CHECK (status IN ('investigating', 'identified', 'monitoring', 'resolved')),
    components    text[] NOT NULL,           -- component ids from the config
    published_at  timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    resolved_at   timestamptz                 -- when the public status became resolved
);

CREATE TABLE status_updates (
    id           bigserial PRIMARY KEY,
    incident_id  bigint NOT NULL REFERENCES status_incidents (incident_id),
    publish_key  text NOT NULL UNIQUE,        -- one update per command / form submission
    at           timestamptz NOT NULL,
    status       text NOT NULL CHECK (status IN ('investigating', 'identified', 'monitoring', 'resolved')),
    body         text NOT NULL,               -- as Slack sent it (Slack-encoded); decoded when shown
    author       text NOT NULL
);
CREATE INDEX status_updates_incident ON status_updates (incident_id, at, id);
CREATE INDEX status_updates_recent ON status_updates (at DESC, id DESC);

-- What was posted to the stakeholders' channel: one row per post, so a job that runs again posts nothing twice.
CREATE TABLE stakeholder_posts (
    post_key     text PRIMARY KEY,            -- <incident id>:declared | :update:<id> | :resolved
    incident_id  bigint NOT NULL REFERENCES incidents (id),
    channel      text NOT NULL,
    ts           text NOT NULL,
    posted_at    timestamptz NOT NULL
);
CREATE INDEX stakeholder_posts_incident ON stakeholder_posts (incident_id, posted_at);
