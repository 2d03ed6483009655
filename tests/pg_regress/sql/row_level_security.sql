-- The policies of docs/row-level-security.md, as PostgREST runs a request: the authenticated role, the verified
-- session token's claims in request.jwt.claims (v1 and v2 tokens), ensure_user() before the
-- request. A user sees their own row; members see their organization's rows; admins may change
-- them.
\set VERBOSITY terse
SET client_min_messages = warning;
DROP DATABASE IF EXISTS clerk_sync_rls;
DROP ROLE IF EXISTS clerk_rls_authenticated;
CREATE DATABASE clerk_sync_rls;
\c clerk_sync_rls
SET client_min_messages = warning;
\set VERBOSITY terse
CREATE EXTENSION clerk_sync;
-- The sign-up guide's tables (not echoed: tests/fixtures/prisma_schema.sql).
\set ECHO none
\i tests/fixtures/prisma_schema.sql
\set ECHO all
CREATE TABLE "Project" (id text PRIMARY KEY, "orgId" text NOT NULL, name text NOT NULL);
INSERT INTO "Project" VALUES ('p1', 'org_acme', 'Acme roadmap'), ('p2', 'org_beta', 'Beta launch');

CREATE ROLE clerk_rls_authenticated NOLOGIN;
GRANT USAGE ON SCHEMA clerk_sync TO clerk_rls_authenticated;
GRANT EXECUTE ON FUNCTION clerk_sync.ensure_user(), clerk_sync.user_id(), clerk_sync.org_id(),
    clerk_sync.org_role() TO clerk_rls_authenticated;
GRANT SELECT, UPDATE ON "User", "Project" TO clerk_rls_authenticated;
ALTER TABLE "User" ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_row ON "User" FOR SELECT TO clerk_rls_authenticated
    USING ("clerkUserId" = (SELECT clerk_sync.user_id()));
ALTER TABLE "Project" ENABLE ROW LEVEL SECURITY;
CREATE POLICY members_read ON "Project" FOR SELECT TO clerk_rls_authenticated
    USING ("orgId" = (SELECT clerk_sync.org_id()));
CREATE POLICY admins_write ON "Project" FOR UPDATE TO clerk_rls_authenticated
    USING ("orgId" = (SELECT clerk_sync.org_id()) AND (SELECT clerk_sync.org_role()) = 'org:admin');

-- Ann (a v1 token, admin of Acme) and Bob (a v2 token, member of Beta) make their first requests.
BEGIN;
SET LOCAL ROLE clerk_rls_authenticated;
SELECT set_config('request.jwt.claims', '{"sub": "user_ann", "email": "ann@example.com", "org_id": "org_acme", "org_role": "org:admin", "org_slug": "acme"}', true) IS NOT NULL AS signed_in;
SELECT clerk_sync.ensure_user() IS NOT NULL AS row_id_returned;
SELECT clerk_sync.user_id(), clerk_sync.org_id(), clerk_sync.org_role();
SELECT "clerkUserId", email, username, id = clerk_sync.ensure_user() AS id_is_ensure_users FROM "User";
SELECT id, name FROM "Project";
UPDATE "Project" SET name = name || ' (edited)' RETURNING id, name;
COMMIT;

BEGIN;
SET LOCAL ROLE clerk_rls_authenticated;
SELECT set_config('request.jwt.claims', '{"v": 2, "sub": "user_bob", "o": {"id": "org_beta", "rol": "member", "slg": "beta"}}', true) IS NOT NULL AS signed_in;
SELECT clerk_sync.ensure_user() IS NOT NULL AS row_id_returned;
SELECT clerk_sync.user_id(), clerk_sync.org_id(), clerk_sync.org_role();
SELECT "clerkUserId", email, username, id = clerk_sync.ensure_user() AS id_is_ensure_users FROM "User";
SELECT id, name FROM "Project";
UPDATE "Project" SET name = name || ' (edited)' RETURNING id, name;
COMMIT;

-- An anonymous request, and odd claims: nothing is visible, nothing raises.
BEGIN;
SET LOCAL ROLE clerk_rls_authenticated;
SELECT clerk_sync.ensure_user() IS NULL AS nothing_done, clerk_sync.user_id() IS NULL AS no_user;
SELECT count(*) AS rows_seen FROM "User";
SELECT set_config('request.jwt.claims', '{"sub": 42, "v": 2, "o": "acme"}', true) IS NOT NULL AS odd_claims;
SELECT clerk_sync.ensure_user() IS NULL AS nothing_done, clerk_sync.org_id() IS NULL AS no_org;
SELECT count(*) AS rows_seen FROM "Project";
COMMIT;

SELECT "clerkUserId", email FROM "User" ORDER BY 1;
SELECT id, name FROM "Project" ORDER BY 1;

\c contract_regression
SET client_min_messages = warning;
DROP DATABASE clerk_sync_rls;
DROP ROLE clerk_rls_authenticated;
