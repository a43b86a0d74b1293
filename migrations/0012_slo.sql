-- What the SLO domain has told Slack once and must not tell twice (a watch breach per criterion, a monthly
-- report per checklist, a Prometheus outage per deploy). A row is written in the same transaction as the post.
CREATE TABLE slo_posts (
    key        text PRIMARY KEY,
    posted_at  timestamptz NOT NULL
);
