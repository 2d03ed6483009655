-- What status() and doctor() cost on a big inbox: n stored deliveries spread over the last 30
-- days (a month of retention), one in a thousand failed. Run by scripts/bench with
-- psql -v n=<deliveries>, in a database with clerk_sync and the sign-up guide's tables.
\set ON_ERROR_STOP on
\pset footer off
SET client_min_messages = warning;
SELECT clerk_sync.add_secret('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw') IS NOT NULL AS secret_added;
INSERT INTO clerk_sync.inbox (msg_id, event_type, user_id, event_at, payload, received_at, attempts, outcome, applied_at)
SELECT 'msg_' || i, 'user.updated', 'user_' || (i % 100000), t, '{"type": "user.updated"}', t, 1,
       CASE WHEN i % 1000 = 0 THEN 'failed' WHEN i % 10 = 0 THEN 'stale' ELSE 'updated' END, t
FROM generate_series(1, :n) AS i, LATERAL (SELECT now() - (i::float8 / :n) * interval '30 days' AS t) r;
VACUUM ANALYZE clerk_sync.inbox;
SELECT count(*) AS stored_deliveries, count(*) FILTER (WHERE received_at > now() - interval '1 day') AS last_day
FROM clerk_sync.inbox;

CREATE SCHEMA bench;
CREATE FUNCTION bench.ms(statement text, runs int) RETURNS TABLE (median_ms numeric, max_ms numeric) LANGUAGE plpgsql AS $$
DECLARE t0 timestamptz; times numeric[] := '{}';
BEGIN
    FOR i IN 1..runs LOOP
        t0 := clock_timestamp();
        EXECUTE statement;
        times := times || extract(epoch FROM clock_timestamp() - t0)::numeric * 1000;
    END LOOP;
    RETURN QUERY SELECT round(percentile_cont(0.5) WITHIN GROUP (ORDER BY x)::numeric, 2), round(max(x), 2) FROM unnest(times) x;
END $$;

SELECT 'status()' AS call, * FROM bench.ms('SELECT clerk_sync.status()', 20)
UNION ALL
SELECT 'doctor()', * FROM bench.ms('SELECT count(*) FROM clerk_sync.doctor()', 20);
SELECT jsonb_pretty(clerk_sync.status()) AS status;
SELECT * FROM clerk_sync.doctor();
