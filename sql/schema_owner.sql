-- The schema is ours or nothing is installed. PostgreSQL installs an extension into an existing
-- schema of that name without a word; whoever owns that schema (or may create in it) decides
-- what the names the extension's SECURITY DEFINER code uses mean, and could run their own code
-- as the superuser that owns the extension. Runs first in every install and update script.
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
