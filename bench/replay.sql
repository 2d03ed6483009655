-- Replaying stored events (replay_each, the batch path behind replay_failed and replay_range),
-- importing users (backfill, in pages of 1,000) and plain clerk_apply per event, against the
-- ceiling of a bare INSERT ... ON CONFLICT of the same rows. Run by scripts/bench with
-- psql -v created=<fixture text> -v n=<events>.
\set ON_ERROR_STOP on
\pset footer off
SET client_min_messages = warning;
\i tests/fixtures/prisma_schema.sql

-- n events, each about a distinct user: 60% user.created, 30% user.updated, 10% user.deleted.
CREATE TABLE stored (seq int PRIMARY KEY, payload jsonb NOT NULL);
INSERT INTO stored
SELECT i,
       CASE WHEN i % 10 = 9 THEN
           jsonb_build_object('type', 'user.deleted', 'object', 'event', 'timestamp', 1767232800000 + i,
                              'data', jsonb_build_object('id', 'user_' || i, 'object', 'user', 'deleted', true))
       ELSE
           jsonb_set(jsonb_set(jsonb_set(jsonb_set(jsonb_set(jsonb_set(:'created'::jsonb,
               '{type}', to_jsonb(CASE WHEN i % 10 >= 6 THEN 'user.updated' ELSE 'user.created' END)),
               '{data,id}', to_jsonb('user_' || i)),
               '{data,email_addresses,0,email_address}', to_jsonb('person' || i || '@example.com')),
               '{data,first_name}', to_jsonb('First' || i)),
               '{data,updated_at}', to_jsonb(1767225600000 + i)),
               '{timestamp}', to_jsonb(1767225600000 + i))
       END
FROM generate_series(1, :n) AS i;
VACUUM ANALYZE stored;

-- The harness lives in a schema of its own, not pg_temp: clerk_sync writes nothing as a table's
-- owner from a session whose temporary schema holds objects.
CREATE SCHEMA bench;
SET search_path = public, bench;
CREATE FUNCTION bench.seconds(statement text) RETURNS numeric LANGUAGE plpgsql AS $$
DECLARE t0 timestamptz := clock_timestamp();
BEGIN
    EXECUTE statement;
    RETURN extract(epoch FROM clock_timestamp() - t0);
END $$;

CREATE UNLOGGED TABLE bench.result (what text, events int, seconds numeric);

-- Warm-up on a few events (first use prepares the statements), then reset.
SELECT count(*) AS warmed FROM (SELECT clerk_sync.clerk_apply(payload) FROM stored WHERE seq <= 100) s;
TRUNCATE "User" CASCADE;
TRUNCATE clerk_sync.user_state;
CHECKPOINT;

INSERT INTO result
SELECT 'clerk_apply, one call per stored event', :n,
       bench.seconds('SELECT count(*) FROM (SELECT clerk_sync.clerk_apply(payload) FROM stored ORDER BY seq) s');
CREATE UNLOGGED TABLE bench.one_at_a_time AS
SELECT u."clerkUserId", u.email, u.username, u."firstName", u."updatedAt" FROM "User" u;

TRUNCATE "User" CASCADE;
TRUNCATE clerk_sync.user_state;

-- The same events as stored deliveries (failed, as after an outage of the users table), then
-- replayed in event order by replay_each, as replay_failed() does.
INSERT INTO clerk_sync.inbox (msg_id, event_type, user_id, event_at, payload, attempts, outcome)
SELECT 'msg_' || seq, payload ->> 'type', payload #>> '{data,id}',
       'epoch'::timestamptz + (payload ->> 'timestamp')::bigint * interval '1 millisecond', payload, 1, 'failed'
FROM stored;
CHECKPOINT;
INSERT INTO result
SELECT 'replay_each (batches), one call for every stored delivery', :n,
       bench.seconds($sql$SELECT count(*) FROM clerk_sync.replay_each(ARRAY(SELECT 'msg_' || seq FROM stored ORDER BY seq))$sql$);
SELECT outcome, count(*) AS deliveries FROM clerk_sync.inbox GROUP BY outcome ORDER BY outcome;
SELECT count(*) AS rows_that_differ_from_one_at_a_time
FROM (SELECT "clerkUserId", email, username, "firstName", "updatedAt" FROM "User"
      EXCEPT SELECT * FROM one_at_a_time
      UNION ALL
      SELECT * FROM one_at_a_time
      EXCEPT SELECT "clerkUserId", email, username, "firstName", "updatedAt" FROM "User") d;

TRUNCATE "User" CASCADE;
TRUNCATE clerk_sync.user_state;
CHECKPOINT;

-- The users of the created and updated events imported as the Backend API lists them, a page
-- of 1,000 per backfill() call, as a sync job would.
CREATE UNLOGGED TABLE bench.page AS
SELECT (seq - 1) / 1000 AS n, jsonb_agg(payload -> 'data' ORDER BY seq) AS users
FROM stored WHERE payload ->> 'type' <> 'user.deleted' GROUP BY 1;
INSERT INTO result
SELECT 'backfill, pages of 1,000 users', (SELECT count(*) FROM stored WHERE payload->>'type' <> 'user.deleted'),
       bench.seconds('SELECT count(*) FROM page, clerk_sync.backfill(page.users)');

TRUNCATE "User" CASCADE;
CHECKPOINT;

-- The ceiling: the same user rows written by one set-based INSERT ... ON CONFLICT.
INSERT INTO result
SELECT 'ceiling: one INSERT ... SELECT ... ON CONFLICT', (SELECT count(*) FROM stored WHERE payload->>'type' <> 'user.deleted'),
       bench.seconds($sql$
    INSERT INTO "User" (id, email, username, "clerkUserId", "firstName", "lastName", "photoUrl",
                        "phoneNumber", "createdAt", "updatedAt")
    SELECT gen_random_uuid()::text,
           payload #>> '{data,email_addresses,0,email_address}',
           split_part(payload #>> '{data,email_addresses,0,email_address}', '@', 1),
           payload #>> '{data,id}', payload #>> '{data,first_name}', payload #>> '{data,last_name}',
           payload #>> '{data,image_url}', NULL,
           to_timestamp((payload #>> '{data,created_at}')::bigint / 1000.0) AT TIME ZONE 'UTC',
           to_timestamp((payload #>> '{data,updated_at}')::bigint / 1000.0) AT TIME ZONE 'UTC'
    FROM stored WHERE payload->>'type' <> 'user.deleted' ORDER BY seq
    ON CONFLICT ("clerkUserId") DO UPDATE
    SET email = EXCLUDED.email, username = EXCLUDED.username, "firstName" = EXCLUDED."firstName",
        "lastName" = EXCLUDED."lastName", "photoUrl" = EXCLUDED."photoUrl", "updatedAt" = EXCLUDED."updatedAt"
$sql$);

TRUNCATE "User" CASCADE;
CHECKPOINT;

-- The same INSERT ... ON CONFLICT, one statement per stored event, as a webhook route would run it.
CREATE FUNCTION bench.upsert_one_by_one() RETURNS void LANGUAGE plpgsql AS $$
DECLARE e jsonb;
BEGIN
    FOR e IN SELECT payload FROM stored WHERE payload->>'type' <> 'user.deleted' ORDER BY seq LOOP
        INSERT INTO "User" (id, email, username, "clerkUserId", "firstName", "lastName", "photoUrl",
                            "phoneNumber", "createdAt", "updatedAt")
        VALUES (gen_random_uuid()::text,
                e #>> '{data,email_addresses,0,email_address}',
                split_part(e #>> '{data,email_addresses,0,email_address}', '@', 1),
                e #>> '{data,id}', e #>> '{data,first_name}', e #>> '{data,last_name}',
                e #>> '{data,image_url}', NULL,
                to_timestamp((e #>> '{data,created_at}')::bigint / 1000.0) AT TIME ZONE 'UTC',
                to_timestamp((e #>> '{data,updated_at}')::bigint / 1000.0) AT TIME ZONE 'UTC')
        ON CONFLICT ("clerkUserId") DO UPDATE
        SET email = EXCLUDED.email, username = EXCLUDED.username, "firstName" = EXCLUDED."firstName",
            "lastName" = EXCLUDED."lastName", "photoUrl" = EXCLUDED."photoUrl", "updatedAt" = EXCLUDED."updatedAt";
    END LOOP;
END $$;
INSERT INTO result
SELECT 'ceiling: the same INSERT ... ON CONFLICT, one row per statement',
       (SELECT count(*) FROM stored WHERE payload->>'type' <> 'user.deleted'),
       bench.seconds('SELECT bench.upsert_one_by_one()');

-- What a replay must write besides the users, measured alone: every replayed delivery's outcome,
-- attempts and time recorded in its inbox row, here by one set-based UPDATE (the rows as
-- replay_each left them, set back to failed first, untimed).
UPDATE clerk_sync.inbox SET outcome = 'failed', applied_at = NULL;
CHECKPOINT;
INSERT INTO result
SELECT 'for scale: recording the outcomes alone, one UPDATE of the inbox', :n,
       bench.seconds($sql$
    UPDATE clerk_sync.inbox SET outcome = 'created', attempts = attempts + 1, applied_at = pg_catalog.now(),
        error_code = NULL, last_error = NULL
$sql$);

SELECT what, events, round(seconds, 2) AS seconds, round(events / seconds) AS events_per_second,
       round((events / seconds) / (SELECT r.events / r.seconds FROM result r WHERE r.what LIKE 'ceiling: one INSERT%'), 2)
           AS of_set_based_ceiling
FROM result;
