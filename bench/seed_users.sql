-- 20,000 (:users) users already synced, as an app that has run for a while has them: applied
-- through clerk_sync.backfill (the users table, their state rows), then copied aside, so that
-- bench.reset() puts back the same state before each contender. Run by scripts/bench with
-- psql -v users=<count> -v created=<fixture text>, in a database with clerk_sync and the sign-up
-- guide's tables.
\set ON_ERROR_STOP on
SET client_min_messages = warning;
CREATE SCHEMA IF NOT EXISTS bench;
SELECT count(*) AS seeded_users
FROM generate_series(0, (:users - 1) / 5000) AS chunk,
     LATERAL clerk_sync.backfill((
         SELECT jsonb_agg(jsonb_set(jsonb_set(jsonb_set(:'created'::jsonb -> 'data',
                    '{id}', to_jsonb('user_seed_' || i)),
                    '{username}', to_jsonb('seed' || i)),
                    '{email_addresses,0,email_address}', to_jsonb('seed' || i || '@example.com')))
         FROM generate_series(chunk * 5000 + 1, least(:users, chunk * 5000 + 5000)) AS i)) AS b;
CREATE TABLE bench.seed_user AS SELECT * FROM "User";
CREATE TABLE bench.seed_state AS SELECT * FROM clerk_sync.user_state;

-- Empties what a run wrote and puts the seeded users back, so that every contender starts from
-- the same state.
CREATE FUNCTION bench.reset() RETURNS void LANGUAGE plpgsql SET client_min_messages = warning AS $$
BEGIN
    TRUNCATE "User" CASCADE;
    TRUNCATE clerk_sync.inbox, clerk_sync.user_state, clerk_sync.username_claim;
    INSERT INTO "User" SELECT * FROM bench.seed_user;
    INSERT INTO clerk_sync.user_state SELECT * FROM bench.seed_state;
    IF to_regclass('bench.next') IS NOT NULL THEN
        PERFORM setval('bench.next', 1, false);
    END IF;
END $$;
SELECT bench.reset();
VACUUM ANALYZE "User", clerk_sync.user_state;
