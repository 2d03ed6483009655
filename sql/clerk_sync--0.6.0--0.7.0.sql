-- clerk_sync 0.6.0 → 0.7.0: Clerk Billing. active_plans(payer_id), and settings
-- subscription_item.* (rows of clerk_sync.setting, no SQL of their own): with a subscription
-- items table, subscription.* and subscriptionItem.* events are applied to it.
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

CREATE FUNCTION clerk_sync.active_plans(payer_id text) RETURNS text[]
STABLE PARALLEL SAFE
SET search_path TO pg_catalog, pg_temp
LANGUAGE c
AS 'MODULE_PATHNAME', 'active_plans_wrapper';

-- Granted to nobody, as every function: the roles whose policies or jobs ask need EXECUTE (and
-- SELECT on the subscription items table, which it reads with their rights).
REVOKE EXECUTE ON FUNCTION clerk_sync.active_plans(text) FROM PUBLIC;
