-- clerk_sync 0.4.2 → 0.5.0: policies that decide as Clerk's has() does — jwt(), session_status(),
-- org_permissions(), has_role(), has_permission(), has_feature(), has_plan() — and setting
-- pending_sessions (a row of clerk_sync.setting, no SQL of its own).
-- Released upgrade scripts are never edited; the next release gets a script of its own.

DO $$
DECLARE
    schema_owner text;
    extension_owner text;
    creators text;
BEGIN
    SELECT pg_catalog.pg_get_userbyid(n.nspowner), pg_catalog.pg_get_userbyid(e.extowner),
           (SELECT pg_catalog.string_agg(DISTINCT CASE a.grantee WHEN 0 THEN 'PUBLIC'
                                                   ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(a.grantee)) END, ', ')
            FROM pg_catalog.aclexplode(n.nspacl) a
            WHERE a.privilege_type = 'CREATE' AND a.grantee <> n.nspowner)
      INTO schema_owner, extension_owner, creators
    FROM pg_catalog.pg_namespace n, pg_catalog.pg_extension e
    WHERE n.nspname = 'clerk_sync' AND e.extname = 'clerk_sync';
    IF schema_owner IS DISTINCT FROM extension_owner THEN
        RAISE EXCEPTION 'schema clerk_sync belongs to role %, not to %, who is installing the extension', schema_owner, extension_owner
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = 'The owner of the schema could rename it or replace what is in it and so run code as the extension''s owner.',
                  HINT = 'Never create schema clerk_sync before CREATE EXTENSION (restore dumps as a superuser). Check what is in it, then DROP SCHEMA clerk_sync, or ALTER SCHEMA clerk_sync OWNER TO ' || pg_catalog.quote_ident(extension_owner) || ', and try again.';
    END IF;
    IF creators IS NOT NULL THEN
        RAISE EXCEPTION 'roles other than its owner may create objects in schema clerk_sync: %', creators
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'REVOKE CREATE ON SCHEMA clerk_sync FROM ' || creators || ', and try again.';
    END IF;
END
$$;

CREATE FUNCTION clerk_sync.jwt() RETURNS jsonb
STRICT STABLE PARALLEL SAFE
LANGUAGE c
AS 'MODULE_PATHNAME', 'jwt_wrapper';

CREATE FUNCTION clerk_sync.session_status() RETURNS text
STRICT STABLE PARALLEL SAFE
LANGUAGE c
AS 'MODULE_PATHNAME', 'session_status_wrapper';

CREATE FUNCTION clerk_sync.org_permissions() RETURNS text[]
STRICT STABLE PARALLEL SAFE
LANGUAGE c
AS 'MODULE_PATHNAME', 'org_permissions_wrapper';

CREATE FUNCTION clerk_sync.has_role(role text) RETURNS bool
STABLE PARALLEL SAFE
LANGUAGE c
AS 'MODULE_PATHNAME', 'has_role_wrapper';

CREATE FUNCTION clerk_sync.has_permission(permission text) RETURNS bool
STABLE PARALLEL SAFE
LANGUAGE c
AS 'MODULE_PATHNAME', 'has_permission_wrapper';

CREATE FUNCTION clerk_sync.has_feature(feature text) RETURNS bool
STABLE PARALLEL SAFE
LANGUAGE c
AS 'MODULE_PATHNAME', 'has_feature_wrapper';

CREATE FUNCTION clerk_sync.has_plan(plan text) RETURNS bool
STABLE PARALLEL SAFE
LANGUAGE c
AS 'MODULE_PATHNAME', 'has_plan_wrapper';

-- As sql/finalize.sql does for a fresh install: the owner grants what each role needs.
REVOKE EXECUTE ON FUNCTION clerk_sync.jwt(), clerk_sync.session_status(), clerk_sync.org_permissions(),
    clerk_sync.has_role(text), clerk_sync.has_permission(text), clerk_sync.has_feature(text),
    clerk_sync.has_plan(text) FROM PUBLIC;
