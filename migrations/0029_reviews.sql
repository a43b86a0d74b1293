-- The reviews posted in a weekly or monthly checklist's thread: one per checklist, written in the same
-- transaction as the post.
CREATE TABLE review_posts (
    key        text PRIMARY KEY,
    posted_at  timestamptz NOT NULL
);
