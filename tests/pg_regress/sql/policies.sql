-- Policies that ask what Clerk's has() asks, as PostgREST runs a request: the authenticated role,
-- the verified session token's claims in request.jwt.claims. Invoices: members of the organization
-- with org:invoices:read see them, org:invoices:manage may change them; exports only where the
-- organization's plan has the feature; the admin-only settings row. v1 and v2 tokens decide
-- alike; a pending session sees nothing and creates nothing; odd claims raise nothing.
\set VERBOSITY terse
SET client_min_messages = warning;
DROP DATABASE IF EXISTS clerk_sync_policies;
DROP ROLE IF EXISTS clerk_pol_authenticated;
CREATE DATABASE clerk_sync_policies;
\c clerk_sync_policies
SET client_min_messages = warning;
\set VERBOSITY terse
CREATE EXTENSION clerk_sync;
\set ECHO none
\i tests/fixtures/prisma_schema.sql
\set ECHO all
CREATE TABLE invoice (id int PRIMARY KEY, org_id text NOT NULL, amount int NOT NULL);
INSERT INTO invoice VALUES (1, 'org_acme', 100), (2, 'org_acme', 250), (3, 'org_beta', 75);
CREATE TABLE export (id int PRIMARY KEY, org_id text NOT NULL, name text NOT NULL);
INSERT INTO export VALUES (1, 'org_acme', 'acme.csv'), (2, 'org_beta', 'beta.csv');
CREATE TABLE org_setting (org_id text PRIMARY KEY, secret text NOT NULL);
INSERT INTO org_setting VALUES ('org_acme', 'acme-only'), ('org_beta', 'beta-only');

CREATE ROLE clerk_pol_authenticated NOLOGIN;
GRANT USAGE ON SCHEMA clerk_sync TO clerk_pol_authenticated;
GRANT EXECUTE ON FUNCTION clerk_sync.ensure_user(), clerk_sync.user_id(), clerk_sync.org_id(),
    clerk_sync.has_role(text), clerk_sync.has_permission(text), clerk_sync.has_feature(text),
    clerk_sync.has_plan(text), clerk_sync.org_permissions(), clerk_sync.session_status()
    TO clerk_pol_authenticated;
GRANT SELECT, UPDATE ON invoice, export, org_setting, "User" TO clerk_pol_authenticated;
ALTER TABLE invoice ENABLE ROW LEVEL SECURITY;
CREATE POLICY read_invoices ON invoice FOR SELECT TO clerk_pol_authenticated
    USING (org_id = (SELECT clerk_sync.org_id()) AND (SELECT clerk_sync.has_permission('org:invoices:read')));
CREATE POLICY manage_invoices ON invoice FOR UPDATE TO clerk_pol_authenticated
    USING (org_id = (SELECT clerk_sync.org_id()) AND (SELECT clerk_sync.has_permission('invoices:manage')));
ALTER TABLE export ENABLE ROW LEVEL SECURITY;
CREATE POLICY plan_has_exports ON export FOR SELECT TO clerk_pol_authenticated
    USING (org_id = (SELECT clerk_sync.org_id()) AND (SELECT clerk_sync.has_feature('org:exports')));
ALTER TABLE org_setting ENABLE ROW LEVEL SECURITY;
CREATE POLICY admins_only ON org_setting FOR SELECT TO clerk_pol_authenticated
    USING (org_id = (SELECT clerk_sync.org_id()) AND (SELECT clerk_sync.has_role('admin')));
ALTER TABLE "User" ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_row ON "User" FOR SELECT TO clerk_pol_authenticated
    USING ("clerkUserId" = (SELECT clerk_sync.user_id()));

-- What a request with these claims sees and may do.
CREATE FUNCTION request_as(claims text) RETURNS TABLE (question text, answer text)
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM set_config('request.jwt.claims', claims, true);
    SET LOCAL ROLE clerk_pol_authenticated;
    question := 'user, organization, status';
    answer := concat_ws(' ', coalesce(clerk_sync.user_id(), '-'), coalesce(clerk_sync.org_id(), '-'),
                        coalesce(clerk_sync.session_status(), '-'));
    RETURN NEXT;
    question := 'permissions';
    answer := coalesce(clerk_sync.org_permissions()::text, 'NULL');
    RETURN NEXT;
    question := 'invoices seen';
    answer := coalesce((SELECT string_agg(id::text, ',' ORDER BY id) FROM invoice), '-');
    RETURN NEXT;
    question := 'invoices changed';
    WITH changed AS (UPDATE invoice SET amount = amount RETURNING id)
    SELECT coalesce(string_agg(id::text, ',' ORDER BY id), '-') INTO answer FROM changed;
    RETURN NEXT;
    question := 'exports seen';
    answer := coalesce((SELECT string_agg(name, ',' ORDER BY id) FROM export), '-');
    RETURN NEXT;
    question := 'settings seen';
    answer := coalesce((SELECT string_agg(secret, ',') FROM org_setting), '-');
    RETURN NEXT;
    question := 'ensure_user';
    answer := CASE WHEN clerk_sync.ensure_user() IS NULL THEN 'no row' ELSE 'a row id' END;
    RETURN NEXT;
    RESET ROLE;
END $$;

-- Ann, v1 token: admin of Acme, may read and manage invoices; Acme's plan has exports.
BEGIN;
SELECT * FROM request_as('{"sub": "user_ann", "sid": "sess_1", "org_id": "org_acme", "org_role": "org:admin",
    "org_permissions": ["org:invoices:read", "org:invoices:manage"], "fea": "o:exports", "pla": "o:team"}');
ROLLBACK;
-- The same, v2 token (permissions packed: fea, o.per, o.fpm = 3 → read and manage).
BEGIN;
SELECT * FROM request_as('{"v": 2, "sub": "user_ann", "sid": "sess_1", "sts": "active", "fea": "o:invoices,o:exports",
    "pla": "o:team", "o": {"id": "org_acme", "rol": "admin", "per": "read,manage", "fpm": "3,0"}}');
ROLLBACK;
-- Bob, v2 token: member of Beta, may read invoices only; Beta's plan lacks exports.
BEGIN;
SELECT * FROM request_as('{"v": 2, "sub": "user_bob", "sid": "sess_2", "fea": "o:invoices,u:exports",
    "o": {"id": "org_beta", "rol": "member", "per": "read,manage", "fpm": "1"}}');
ROLLBACK;
-- Ann's session, pending (a session task left): signed out — nothing seen, nothing created.
BEGIN;
SELECT * FROM request_as('{"v": 2, "sub": "user_ann", "sid": "sess_3", "sts": "pending", "fea": "o:invoices,o:exports",
    "o": {"id": "org_acme", "rol": "admin", "per": "read,manage", "fpm": "3"}}');
COMMIT;
-- A malformed fea (an element without a colon, where the SDK throws): no permission, no feature;
-- the role does not depend on it. Then claims that are not JSON. Nothing raises.
BEGIN;
SELECT * FROM request_as('{"v": 2, "sub": "user_odd", "fea": "o:invoices,broken", "o": {"id": "org_acme", "rol": "admin", "per": "read", "fpm": "1"}}');
ROLLBACK;
BEGIN;
SELECT * FROM request_as('not json');
ROLLBACK;
SELECT count(*) AS users_created FROM "User";

\c contract_regression
SET client_min_messages = warning;
DROP DATABASE clerk_sync_policies;
DROP ROLE clerk_pol_authenticated;
