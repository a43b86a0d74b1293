-- A page being sent is claimed by its sender for a short while (not locked for the Slack call's duration, which
-- would hold a database connection per page): two senders never DM the same person at once, and a sender that
-- died mid-send leaves the page to the next round once the claim is old.
ALTER TABLE incident_pages ADD COLUMN sending_since timestamptz;
