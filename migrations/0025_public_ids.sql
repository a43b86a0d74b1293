-- The status page's own identifiers and text the public can always read.

-- A public incident is named on the page, in status.json and in the feed by a random slug of its own, never by
-- the internal incident id or number (which counts private incidents too). Ten characters of lowercase base32
-- (no i, l, o, u), drawn from gen_random_uuid()'s random bytes (bytes 6 and 8 carry its version and variant).
CREATE FUNCTION status_public_id() RETURNS text LANGUAGE sql VOLATILE AS $$
    SELECT string_agg(substr('0123456789abcdefghjkmnpqrstvwxyz', get_byte(r.b, i) % 32 + 1, 1), '' ORDER BY i)
    FROM (SELECT uuid_send(gen_random_uuid()) AS b) r, unnest(ARRAY[0, 1, 2, 3, 4, 5, 10, 11, 12, 13]) AS i
$$;

-- Existing rows get one here (a volatile default is evaluated for each row), new rows when first published.
ALTER TABLE status_incidents ADD COLUMN public_id text NOT NULL DEFAULT status_public_id();
ALTER TABLE status_incidents ADD CONSTRAINT status_incidents_public_id UNIQUE (public_id);

-- Text published before it was cleaned on the way in: what XML 1.0 cannot carry (C0 controls other than tab,
-- newline and carriage return; U+FFFE, U+FFFF) would keep the Atom feed broken while it is among the last 50.
UPDATE status_updates SET body = regexp_replace(body, '[\x01-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]', '', 'g')
WHERE body ~ '[\x01-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]';
UPDATE status_incidents
SET public_title = regexp_replace(public_title, '[\x01-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]', '', 'g')
WHERE public_title ~ '[\x01-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]';
