-- The receive benchmark's data and contenders. Run by scripts/bench with
-- psql -v n=<events> -v created=<fixture text> -v secret=<whsec_...>, in a database that has
-- clerk_sync, the sign-up guide's tables and bench/seed_users.sql's users (and bench.reset()).
--
-- n Clerk-shaped events of about 2.5 KB: 70 % user.created, 20 % user.updated (of created users,
-- later), 10 % user.deleted (of created users, last). Each contender takes the next event from
-- bench.next, so eight pgbench clients together deliver every event once.
\set ON_ERROR_STOP on
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgcrypto;
CREATE SCHEMA IF NOT EXISTS bench;
CREATE SEQUENCE bench.next;

CREATE TABLE bench.event (seq bigint PRIMARY KEY, headers jsonb, body text NOT NULL);
WITH plan AS (
    SELECT i,
           CASE WHEN i <= :n * 0.7 THEN 'user.created'
                WHEN i <= :n * 0.9 THEN 'user.updated'
                ELSE 'user.deleted' END AS kind,
           -- updated and deleted events are about earlier created users
           CASE WHEN i <= :n * 0.7 THEN i
                WHEN i <= :n * 0.9 THEN i - (:n * 0.7)::int
                ELSE i - (:n * 0.9)::int + (:n * 0.2)::int END AS u
    FROM generate_series(1, :n) AS i
)
INSERT INTO bench.event (seq, body)
SELECT i,
       CASE WHEN kind = 'user.deleted' THEN
           jsonb_build_object('type', kind, 'object', 'event', 'timestamp', 1767232800000 + i,
               'data', jsonb_build_object('id', 'user_bench_' || u, 'object', 'user', 'deleted', true))::text
       ELSE
           jsonb_set(jsonb_set(jsonb_set(jsonb_set(jsonb_set(jsonb_set(jsonb_set(jsonb_set(:'created'::jsonb,
               '{type}', to_jsonb(kind)),
               '{data,id}', to_jsonb('user_bench_' || u)),
               '{data,username}', to_jsonb('person' || u)),
               '{data,email_addresses,0,email_address}', to_jsonb('person' || u || '@example.com')),
               '{data,first_name}', to_jsonb(CASE WHEN kind = 'user.created' THEN 'First' ELSE 'Renamed' END || u)),
               '{data,updated_at}', to_jsonb(1767225600000 + i)),
               '{timestamp}', to_jsonb(1767225600000 + i)),
               '{data,public_metadata}', jsonb_build_object('bio', repeat('lorem ipsum ', 60)))::text
       END
FROM plan;

-- The same events pre-parsed: what the ceiling writes.
CREATE TABLE bench.row AS
SELECT seq,
       b ->> 'type' AS kind,
       b -> 'data' ->> 'id' AS clerk_id,
       b -> 'data' -> 'email_addresses' -> 0 ->> 'email_address' AS email,
       b -> 'data' ->> 'username' AS username,
       b -> 'data' ->> 'first_name' AS first_name,
       b -> 'data' ->> 'last_name' AS last_name,
       b -> 'data' ->> 'image_url' AS photo_url
FROM bench.event, LATERAL (SELECT body::jsonb AS b) p;
ALTER TABLE bench.row ADD PRIMARY KEY (seq);

CREATE TABLE bench.secret (secret text NOT NULL);
INSERT INTO bench.secret VALUES (:'secret');

-- Signs every event now (deliveries are refused 300 s after their timestamp).
CREATE FUNCTION bench.sign_all() RETURNS void LANGUAGE sql AS $$
    UPDATE bench.event e
    SET headers = jsonb_build_object('content-type', 'application/json', 'svix-id', 'msg_bench_' || e.seq,
        'svix-timestamp', extract(epoch FROM now())::bigint::text,
        'svix-signature', clerk_sync.clerk_sign(s.secret, 'msg_bench_' || e.seq, extract(epoch FROM now())::bigint, e.body))
    FROM bench.secret s
$$;

-- The ceiling: the pre-parsed row, upserted or deleted; no verification, no inbox, no ordering.
CREATE FUNCTION bench.bare(s bigint) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    r bench.row;
BEGIN
    SELECT * INTO r FROM bench.row WHERE seq = s;
    IF r.kind = 'user.deleted' THEN
        DELETE FROM "User" WHERE "clerkUserId" = r.clerk_id;
    ELSE
        INSERT INTO "User" (id, email, username, "clerkUserId", "firstName", "lastName", "photoUrl", "updatedAt")
        VALUES (gen_random_uuid()::text, r.email, r.username, r.clerk_id, r.first_name, r.last_name, r.photo_url, now())
        ON CONFLICT ("clerkUserId") DO UPDATE
        SET email = EXCLUDED.email, username = EXCLUDED.username, "firstName" = EXCLUDED."firstName",
            "lastName" = EXCLUDED."lastName", "photoUrl" = EXCLUDED."photoUrl", "updatedAt" = EXCLUDED."updatedAt";
    END IF;
END $$;

-- What a user writes in an afternoon from the sign-up guide: verify the Svix signature with
-- pgcrypto, then upsert or delete. No inbox, no ordering, no tombstones, no unique usernames.
-- With keep_inbox, it also stores each delivery in clerk_sync.inbox (one plain INSERT; still no
-- ordering, duplicates or tombstones): what keeping every delivery costs by itself.
CREATE FUNCTION bench.plpgsql_receiver(headers jsonb, body text, keep_inbox boolean DEFAULT false)
RETURNS int LANGUAGE plpgsql AS $$
DECLARE
    msg_id text := headers ->> 'svix-id';
    ts text := headers ->> 'svix-timestamp';
    key bytea;
    expected text;
    payload jsonb;
    d jsonb;
    primary_email text;
BEGIN
    IF msg_id IS NULL OR ts IS NULL OR headers ->> 'svix-signature' IS NULL OR ts !~ '^[0-9]+$'
       OR abs(extract(epoch FROM now()) - ts::bigint) > 300 THEN
        RETURN 401;
    END IF;
    SELECT decode(regexp_replace(secret, '^whsec_', ''), 'base64') INTO key FROM bench.secret;
    expected := 'v1,' || encode(hmac(convert_to(msg_id || '.' || ts || '.' || body, 'UTF8'), key, 'sha256'), 'base64');
    IF NOT expected = ANY (string_to_array(headers ->> 'svix-signature', ' ')) THEN
        RETURN 401;
    END IF;
    payload := body::jsonb;
    d := payload -> 'data';
    IF keep_inbox THEN
        INSERT INTO clerk_sync.inbox (msg_id, event_type, user_id, event_at, payload, attempts, outcome, applied_at)
        VALUES (msg_id, payload ->> 'type', d ->> 'id', now(), payload, 1, 'applied', now());
    END IF;
    IF payload ->> 'type' = 'user.deleted' THEN
        DELETE FROM "User" WHERE "clerkUserId" = d ->> 'id';
        RETURN 200;
    END IF;
    SELECT e ->> 'email_address' INTO primary_email
    FROM jsonb_array_elements(d -> 'email_addresses') e
    WHERE e ->> 'id' = d ->> 'primary_email_address_id';
    INSERT INTO "User" (id, email, username, "clerkUserId", "firstName", "lastName", "photoUrl", "updatedAt")
    VALUES (gen_random_uuid()::text, primary_email, coalesce(d ->> 'username', split_part(primary_email, '@', 1)),
            d ->> 'id', d ->> 'first_name', d ->> 'last_name', d ->> 'image_url', now())
    ON CONFLICT ("clerkUserId") DO UPDATE
    SET email = EXCLUDED.email, username = EXCLUDED.username, "firstName" = EXCLUDED."firstName",
        "lastName" = EXCLUDED."lastName", "photoUrl" = EXCLUDED."photoUrl", "updatedAt" = EXCLUDED."updatedAt";
    RETURN 200;
END $$;

VACUUM ANALYZE bench.event;
VACUUM ANALYZE bench.row;
SELECT count(*) AS events, round(avg(octet_length(body))) AS avg_body_bytes FROM bench.event;
