-- Policies over 100,000 rows (psql -v rows=<n>): the helpers against the plain SQL a Supabase
-- user writes today, with auth.jwt() as Supabase defines it. Each predicate is evaluated as a
-- policy's USING clause is (a qual per row), per row and in the (SELECT ...) form; the median of
-- nine runs, in ms. Run by scripts/bench in a database with clerk_sync.
\set ON_ERROR_STOP on
\pset footer off
SET client_min_messages = warning;
SET max_parallel_workers_per_gather = 0;
CREATE SCHEMA auth;
CREATE FUNCTION auth.jwt() RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT coalesce(nullif(current_setting('request.jwt.claim', true), ''),
                    nullif(current_setting('request.jwt.claims', true), ''))::jsonb
$$;
CREATE TABLE invoice (id int PRIMARY KEY, org_id text NOT NULL);
INSERT INTO invoice SELECT i, 'org_2zQmF2gCpU9wQbS4yY6aH8jJ0kL' FROM generate_series(1, :rows) i;
VACUUM ANALYZE invoice;

CREATE SCHEMA policy_bench;
-- The median time, in ms, of nine runs of SELECT count(*) FROM invoice WHERE <predicate>, under
-- the claims given; the count as a check that both sides of a pair decide alike.
CREATE FUNCTION policy_bench.ms(claims text, predicate text, OUT ms numeric, OUT rows bigint) LANGUAGE plpgsql AS $$
DECLARE
    t0 timestamptz;
    runs numeric[] := '{}';
BEGIN
    PERFORM set_config('request.jwt.claims', claims, false);
    EXECUTE 'SELECT count(*) FROM invoice WHERE ' || predicate INTO rows;  -- warm-up
    FOR i IN 1..9 LOOP
        t0 := clock_timestamp();
        EXECUTE 'SELECT count(*) FROM invoice WHERE ' || predicate INTO rows;
        runs := runs || round(extract(epoch FROM clock_timestamp() - t0) * 1000, 2);
    END LOOP;
    SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY r) INTO ms FROM unnest(runs) r;
END $$;

\set v1 '{"sub": "user_2zQmA7bXkP4rLwN9sT1vC3dE5fG", "sid": "sess_1", "iss": "https://clerk.example.com", "exp": 1767229200, "org_id": "org_2zQmF2gCpU9wQbS4yY6aH8jJ0kL", "org_role": "org:admin", "org_slug": "acme", "org_permissions": ["org:invoices:read", "org:invoices:manage", "org:reports:read"]}'
\set v2 '{"v": 2, "sub": "user_2zQmA7bXkP4rLwN9sT1vC3dE5fG", "sid": "sess_1", "iss": "https://clerk.example.com", "exp": 1767229200, "fea": "o:invoices,o:reports,u:export", "o": {"id": "org_2zQmF2gCpU9wQbS4yY6aH8jJ0kL", "rol": "admin", "slg": "acme", "per": "read,manage", "fpm": "3,1"}}'

-- A qual without a column is a pseudoconstant that PostgreSQL evaluates once per scan, whatever
-- its form; a policy's qual mentions the row (org_id = ...). CASE WHEN id > 0 ties each expression
-- to the row the same way on both sides, so "per row" is evaluated per row, and "(SELECT ...)" is
-- an init plan evaluated once.
SELECT pair, form, side, m.ms, m.rows
FROM (VALUES
    (1, 'role', 'clerk_sync (v2)', :'v2', 'clerk_sync.has_role(''admin'')'),
    (2, 'role', 'plain SQL (v2)', :'v2', '((auth.jwt() ->> ''org_role'') = ''org:admin'') OR ((auth.jwt() -> ''o'' ->> ''rol'') = ''admin'')'),
    (3, 'permission', 'clerk_sync (v2)', :'v2', 'clerk_sync.has_permission(''org:invoices:read'')'),
    (4, 'permission', 'plain SQL (v1)', :'v1', '(auth.jwt() -> ''org_permissions'') ? ''org:invoices:read''')
) AS v (n, pair, side, claims, expression),
(VALUES (1, 'per row', 'CASE WHEN id > 0 THEN (%s) END'), (2, '(SELECT ...)', 'CASE WHEN id > 0 THEN (SELECT %s) END')) AS f (k, form, shape),
LATERAL policy_bench.ms(claims, format(shape, expression)) m
ORDER BY (v.n + 1) / 2, f.k, v.n;
