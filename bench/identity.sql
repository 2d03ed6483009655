-- The cost of ensure_user() when the user has a row (every request after the first), and of the
-- identity helpers, per call, net of a loop that reads the same setting. Run by scripts/bench
-- with psql -v n=<calls>, in a database with clerk_sync and the sign-up guide's tables.
\set ON_ERROR_STOP on
\pset footer off
SET client_min_messages = warning;
SELECT set_config('request.jwt.claims',
    '{"azp": "https://app.example.com", "exp": 1767229200, "iat": 1767225600, "iss": "https://clerk.example.com", "nbf": 1767225590, "sid": "sess_2zQmE1fBoT8vPaR3wX5zG7hI9jK", "sub": "user_2zQmA7bXkP4rLwN9sT1vC3dE5fG", "v": 2, "o": {"id": "org_2zQmF2gCpU9wQbS4yY6aH8jJ0kL", "rol": "admin", "slg": "acme"}, "email": "jane.doe@example.com", "first_name": "Jane"}',
    false) IS NOT NULL AS claims_set;
SELECT clerk_sync.ensure_user() AS first_call;
SELECT clerk_sync.ensure_user() AS next_calls;

-- A schema of its own, not pg_temp: clerk_sync writes nothing as a table's owner from a session
-- whose temporary schema holds objects.
CREATE SCHEMA bench;
CREATE FUNCTION bench.us_per_call(statement text, n int) RETURNS numeric LANGUAGE plpgsql AS $$
DECLARE t0 timestamptz := clock_timestamp();
BEGIN
    EXECUTE statement USING n;
    RETURN round(extract(epoch FROM clock_timestamp() - t0) * 1e6 / n, 2);
END $$;

WITH baseline AS (
    SELECT bench.us_per_call('SELECT count(length(current_setting(''request.jwt.claims''))) FROM generate_series(1, $1)', :n) AS us
)
SELECT what, bench.us_per_call(statement, :n) - baseline.us AS us_per_call
FROM baseline, (VALUES
    ('ensure_user(), the user has a row', 'SELECT count(clerk_sync.ensure_user()) FROM generate_series(1, $1)'),
    ('user_id()', 'SELECT count(clerk_sync.user_id()) FROM generate_series(1, $1)'),
    ('org_role()', 'SELECT count(clerk_sync.org_role()) FROM generate_series(1, $1)')) AS s (what, statement);
