-- Cost of one clerk_verify call in SQL, on a ~2.5 KB Clerk-shaped body signed now.
-- Run by scripts/bench with: psql -v body="<fixture text>" -v n=<calls>
\set ON_ERROR_STOP on
\pset footer off
SET client_min_messages = warning;

SELECT clerk_sync.add_secret('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', 'bench') \gset

-- PLAIN storage keeps the row inline and uncompressed, as a request parameter would be.
CREATE TEMP TABLE request (headers jsonb, body text);
ALTER TABLE request ALTER headers SET STORAGE PLAIN, ALTER body SET STORAGE PLAIN;
INSERT INTO request
SELECT jsonb_build_object(
           'content-type', 'application/json',
           'user-agent', 'Svix-Webhooks/1.62.0',
           'svix-id', 'msg_2zQmA7bXkP4rLwN9sT1vC3dE5fG',
           'svix-timestamp', ts::text,
           'svix-signature', clerk_sync.clerk_sign('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
                                                  'msg_2zQmA7bXkP4rLwN9sT1vC3dE5fG', ts, body)) AS headers,
       body
FROM (SELECT extract(epoch FROM now())::bigint AS ts,
             rtrim(:'body', E'}\n') || ',"public_metadata_pad":"' || repeat('x', 700) || '"}' AS body) s;

SELECT octet_length(body) AS body_bytes, clerk_sync.clerk_verify(headers, body) AS verifies FROM request;

CREATE FUNCTION pg_temp.time_per_call(expr text, n int) RETURNS numeric LANGUAGE plpgsql AS $$
DECLARE
    t0 timestamptz;
    hits bigint;
BEGIN
    t0 := clock_timestamp();
    EXECUTE format('SELECT count(*) FILTER (WHERE %s) FROM request, generate_series(1, %s)', expr, n) INTO hits;
    IF hits <> n THEN RAISE EXCEPTION 'only % of % calls returned true', hits, n; END IF;
    RETURN round(extract(epoch FROM clock_timestamp() - t0) * 1e6 / n, 3);
END $$;

-- The peer: the same check in PL/pgSQL with pgcrypto's hmac(), as one would write it by hand
-- (exact header names only, plain string comparison).
CREATE EXTENSION IF NOT EXISTS pgcrypto;
CREATE FUNCTION pg_temp.plpgsql_verify(headers jsonb, body text, secret text) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    ts text := headers ->> 'svix-timestamp';
    expected text;
    entry text;
BEGIN
    IF ts !~ '^[0-9]+$' OR abs(extract(epoch FROM now()) - ts::bigint) > 300 THEN
        RETURN false;
    END IF;
    expected := 'v1,' || encode(hmac(convert_to((headers ->> 'svix-id') || '.' || ts || '.' || body, 'UTF8'),
                                     decode(regexp_replace(secret, '^whsec_', ''), 'base64'), 'sha256'), 'base64');
    FOREACH entry IN ARRAY string_to_array(headers ->> 'svix-signature', ' ') LOOP
        IF entry = expected THEN
            RETURN true;
        END IF;
    END LOOP;
    RETURN false;
END $$;

-- Warm up (loads the secret cache, JIT off by default on this size).
SELECT pg_temp.time_per_call('clerk_sync.clerk_verify(headers, body)', 1000) IS NOT NULL AS warmed;

WITH runs AS (
    SELECT pg_temp.time_per_call('octet_length(body) > 0 AND headers IS NOT NULL', :n) AS baseline,
           pg_temp.time_per_call('clerk_sync.clerk_verify(headers, body)', :n) AS verify_configured,
           pg_temp.time_per_call('clerk_sync.clerk_verify(headers, body, ''whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'', now())', :n) AS verify_explicit,
           pg_temp.time_per_call('pg_temp.plpgsql_verify(headers, body, ''whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'')', :n) AS peer
)
SELECT 'clerk_verify(headers, body), configured secret' AS what, verify_configured AS us_per_call,
       round(verify_configured - baseline, 3) AS us_net_of_scan
FROM runs
UNION ALL
SELECT 'clerk_verify(headers, body, secret, at)', verify_explicit, round(verify_explicit - baseline, 3) FROM runs
UNION ALL
SELECT 'peer: PL/pgSQL + pgcrypto hmac()', peer, round(peer - baseline, 3) FROM runs
UNION ALL
SELECT 'baseline: same scan, trivial predicate', baseline, 0 FROM runs;
