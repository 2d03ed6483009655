-- Code the app hangs on its own table runs with the table owner's rights, never with the
-- extension owner's: through receive (the proxy's role), webhook (PostgREST's anon role), and
-- clerk_apply, replay, backfill and reconcile called by a superuser. Each attack tries to make
-- the app's role a superuser; the last query of each section shows it did not.
\set VERBOSITY terse
SET client_min_messages = warning;
DROP DATABASE IF EXISTS clerk_sync_least_privilege;
DROP ROLE IF EXISTS clerk_lp_app;
DROP ROLE IF EXISTS clerk_lp_proxy;
DROP ROLE IF EXISTS clerk_lp_anon;
CREATE DATABASE clerk_sync_least_privilege;
\c clerk_sync_least_privilege
SET client_min_messages = warning;
\set VERBOSITY terse

-- The app's role owns its tables, as `prisma migrate` would create them; the proxy's role may
-- only call receive; PostgREST's anon role only the published webhook.
CREATE ROLE clerk_lp_app NOLOGIN;
CREATE ROLE clerk_lp_proxy NOLOGIN;
CREATE ROLE clerk_lp_anon NOLOGIN;
GRANT CREATE ON SCHEMA public TO clerk_lp_app;
CREATE EXTENSION clerk_sync;
-- The test's helpers live in a schema of the superuser's: clerk_sync writes nothing as a table's
-- owner from a session whose temporary schema holds objects (section 11).
CREATE SCHEMA lp;
-- The test secret, kept out of DDL text (pg_stat_statements keeps utility statements verbatim).
CREATE TABLE lp.test_secret (secret text);
INSERT INTO lp.test_secret VALUES ('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw');
SELECT clerk_sync.add_secret(secret) IS NOT NULL AS secret_added FROM lp.test_secret;
-- Every payload kept: section 4 replays deliveries that applied.
SELECT clerk_sync.set_setting('keep_payloads', 'all');
GRANT USAGE ON SCHEMA clerk_sync TO clerk_lp_proxy;
GRANT EXECUTE ON FUNCTION clerk_sync.receive(jsonb, text) TO clerk_lp_proxy;
SELECT clerk_sync.expose_webhook('api', 'clerk_lp_anon');

SET ROLE clerk_lp_app;
CREATE TABLE "User" (
    "id" text PRIMARY KEY,
    "email" text NOT NULL,
    "username" text NOT NULL UNIQUE,
    "clerkUserId" text UNIQUE,
    "firstName" text,
    "lastName" text,
    "photoUrl" text,
    "phoneNumber" text,
    "createdAt" timestamp(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" timestamp(3) NOT NULL
);
-- What the app's code saw: who ran it.
CREATE TABLE audit (clerk_user_id text, ran_as text, way text);
-- Each way in calls this; it tries to gain rights, then records who it ran as.
CREATE FUNCTION public.escalate(way text, clerk_user_id text) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    ALTER ROLE clerk_lp_app SUPERUSER;
    INSERT INTO public.audit VALUES (clerk_user_id, current_user, way);
    RETURN true;
END $$;
CREATE FUNCTION public.escalate_trigger() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM public.escalate('trigger', NEW."clerkUserId");
    RETURN NEW;
END $$;
RESET ROLE;

-- Signed headers for a body, as the proxy forwards them.
CREATE FUNCTION lp.signed(msg_id text, body text) RETURNS jsonb LANGUAGE sql AS $$
    SELECT jsonb_build_object('svix-id', msg_id,
        'svix-timestamp', extract(epoch FROM now())::bigint::text,
        'svix-signature', clerk_sync.clerk_sign((SELECT secret FROM lp.test_secret), msg_id,
                                               extract(epoch FROM now())::bigint, body))
$$;
-- A Clerk user.created body for user `id`.
CREATE FUNCTION lp.created(id text) RETURNS text LANGUAGE sql AS $$
    SELECT jsonb_build_object('type', 'user.created', 'object', 'event', 'timestamp', 1767225600000,
        'data', jsonb_build_object('id', id, 'object', 'user', 'username', id,
            'email_addresses', jsonb_build_array(jsonb_build_object('id', 'idn_' || id, 'email_address', id || '@example.com')),
            'primary_email_address_id', 'idn_' || id, 'first_name', 'Jane',
            'created_at', 1767225600000, 'updated_at', 1767225600000))::text
$$;
-- Delivers through receive as the proxy's role; the answer without volatile parts.
CREATE FUNCTION lp.deliver_as_proxy(msg_id text, body text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    headers jsonb := lp.signed(msg_id, body);
    answer jsonb;
BEGIN
    SET LOCAL ROLE clerk_lp_proxy;
    answer := clerk_sync.receive(headers, body);
    RESET ROLE;
    RETURN concat_ws(' ', answer ->> 'status', answer ->> 'outcome', answer ->> 'error_code');
END $$;
-- Delivers through the published webhook as PostgREST does it for its anon role.
CREATE FUNCTION lp.deliver_as_postgrest(msg_id text, body text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    headers jsonb := lp.signed(msg_id, body);
    answer jsonb;
BEGIN
    PERFORM set_config('request.headers', headers::text, true);
    SET LOCAL ROLE clerk_lp_anon;
    answer := api.clerk_webhook(body::json);
    RESET ROLE;
    RETURN concat_ws(' ', current_setting('response.status'), answer ->> 'outcome', answer ->> 'error_code');
END $$;
-- One delivery of a new user through each way in: receive as the proxy's role, webhook as
-- PostgREST's anon role, then clerk_apply, replay (of the first, when it failed) and backfill as
-- this superuser. Errors are shown as SQLSTATE and message.
CREATE FUNCTION lp.every_way_in(prefix text) RETURNS TABLE (way text, answer text) LANGUAGE plpgsql AS $$
BEGIN
    way := 'receive';
    answer := lp.deliver_as_proxy('msg_' || prefix || '1', lp.created('user_' || prefix || '1'));
    RETURN NEXT;
    way := 'webhook';
    answer := lp.deliver_as_postgrest('msg_' || prefix || '2', lp.created('user_' || prefix || '2'));
    RETURN NEXT;
    way := 'clerk_apply';
    BEGIN
        answer := clerk_sync.clerk_apply(lp.created('user_' || prefix || '3')::jsonb);
    EXCEPTION WHEN OTHERS THEN
        answer := SQLSTATE || ': ' || SQLERRM;
    END;
    RETURN NEXT;
    way := 'replay';
    answer := clerk_sync.replay('msg_' || prefix || '1');
    RETURN NEXT;
    way := 'backfill';
    BEGIN
        SELECT string_agg(b.outcome || ' ' || b.users, ', ') INTO answer
        FROM clerk_sync.backfill(jsonb_build_array(lp.created('user_' || prefix || '4')::jsonb -> 'data')) b;
    EXCEPTION WHEN OTHERS THEN
        answer := SQLSTATE || ': ' || SQLERRM;
    END;
    RETURN NEXT;
END $$;
CREATE VIEW lp.app_is_superuser AS SELECT rolsuper AS app_is_superuser FROM pg_roles WHERE rolname = 'clerk_lp_app';

-- 1. A trigger.
SET ROLE clerk_lp_app;
CREATE TRIGGER escalate BEFORE INSERT OR UPDATE ON "User" FOR EACH ROW EXECUTE FUNCTION public.escalate_trigger();
RESET ROLE;
SELECT * FROM lp.every_way_in('t');
SELECT * FROM lp.app_is_superuser;
SELECT msg_id, outcome, error_code FROM clerk_sync.inbox ORDER BY msg_id;
SET ROLE clerk_lp_app;
DROP TRIGGER escalate ON "User";
RESET ROLE;

-- 1b. A trigger that tries to become the session's user again (a superuser calling clerk_apply).
SET ROLE clerk_lp_app;
CREATE FUNCTION public.become_session_user() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RESET ROLE;
    ALTER ROLE clerk_lp_app SUPERUSER;
    RETURN NEW;
END $$;
CREATE TRIGGER become_session_user BEFORE INSERT ON "User" FOR EACH ROW EXECUTE FUNCTION public.become_session_user();
RESET ROLE;
SELECT clerk_sync.clerk_apply(lp.created('user_s1')::jsonb);
SELECT * FROM lp.app_is_superuser;
SET ROLE clerk_lp_app;
DROP TRIGGER become_session_user ON "User";
RESET ROLE;

-- 2. A column default.
SET ROLE clerk_lp_app;
ALTER TABLE "User" ADD COLUMN note boolean DEFAULT public.escalate('default', 'a new row');
RESET ROLE;
SELECT * FROM lp.every_way_in('d');
SELECT * FROM lp.app_is_superuser;
SET ROLE clerk_lp_app;
ALTER TABLE "User" DROP COLUMN note;
RESET ROLE;

-- 3. A CHECK constraint.
SET ROLE clerk_lp_app;
ALTER TABLE "User" ADD CONSTRAINT escalate CHECK (public.escalate('check', "clerkUserId")) NOT VALID;
RESET ROLE;
SELECT * FROM lp.every_way_in('c');
SELECT * FROM lp.app_is_superuser;
SET ROLE clerk_lp_app;
ALTER TABLE "User" DROP CONSTRAINT escalate;
RESET ROLE;
SELECT count(*) AS users_written_by_attacks, (SELECT count(*) FROM audit) AS audit_rows FROM "User";

-- 4. Ordinary app code keeps working, as the table's owner: a trigger stamping a column and
-- writing an audit row, and a column default. Settings it changes do not outlive it.
SET ROLE clerk_lp_app;
ALTER TABLE "User" ADD COLUMN "stampedBy" text, ADD COLUMN "source" text DEFAULT 'clerk';
CREATE FUNCTION public.stamp() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW."stampedBy" := current_user;
    INSERT INTO public.audit VALUES (NEW."clerkUserId", current_user, 'benign');
    PERFORM set_config('search_path', 'public', false);
    RETURN NEW;
END $$;
CREATE TRIGGER stamp BEFORE INSERT OR UPDATE ON "User" FOR EACH ROW EXECUTE FUNCTION public.stamp();
RESET ROLE;
SET search_path = public, pg_temp;
SELECT * FROM lp.every_way_in('b');
SHOW search_path;
SELECT "clerkUserId", "stampedBy", "source", "firstName" FROM "User" ORDER BY 1;
SELECT * FROM audit ORDER BY 1;

-- 4b. App code that changes search_path and plants an operator, hoping that clerk_sync's own
-- next statement (releasing a renamed user's old username, run as the extension's owner) resolves
-- `<>` to it. The owner's context ends with its settings undone, so it never does.
SET ROLE clerk_lp_app;
CREATE FUNCTION public.hijack_ne(a text, b text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    BEGIN
        ALTER ROLE clerk_lp_app SUPERUSER;
    EXCEPTION WHEN insufficient_privilege THEN
        NULL;
    END;
    RETURN a OPERATOR(pg_catalog.<>) b;
END $$;
CREATE OPERATOR public.<> (LEFTARG = text, RIGHTARG = text, FUNCTION = public.hijack_ne);
CREATE FUNCTION public.plant_search_path() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM set_config('search_path', 'public, pg_catalog', false);
    RETURN NEW;
END $$;
CREATE TRIGGER plant BEFORE UPDATE ON "User" FOR EACH ROW EXECUTE FUNCTION public.plant_search_path();
RESET ROLE;
SELECT clerk_sync.clerk_apply(jsonb_set(jsonb_set(lp.created('user_b3')::jsonb,
       '{data,updated_at}', '1767225800000'), '{data,username}', '"renamed_b3"'));
SELECT * FROM lp.app_is_superuser;
SELECT "clerkUserId", username FROM "User" WHERE "clerkUserId" = 'user_b3';
SET ROLE clerk_lp_app;
DROP TRIGGER plant ON "User";
DROP OPERATOR public.<> (text, text);
RESET ROLE;

-- 5. The owner lacks a right the write needs: 42501, kept as failed, applied once granted.
REVOKE UPDATE ON "User" FROM clerk_lp_app;
SELECT lp.deliver_as_proxy('msg_b1_again', jsonb_set(lp.created('user_b1')::jsonb,
       '{data,updated_at}', '1767225700000')::text) AS receive;
SELECT outcome, error_code, last_error FROM clerk_sync.inbox WHERE msg_id = 'msg_b1_again';
GRANT UPDATE ON "User" TO clerk_lp_app;
SELECT lp.deliver_as_proxy('msg_b1_again', jsonb_set(lp.created('user_b1')::jsonb,
       '{data,updated_at}', '1767225700000')::text) AS receive;

-- 6. A deferrable trigger would run at commit with the committing role's rights: refused.
SET ROLE clerk_lp_app;
CREATE FUNCTION public.at_commit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;
CREATE CONSTRAINT TRIGGER at_commit AFTER INSERT ON "User" DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION public.at_commit();
RESET ROLE;
SELECT lp.deliver_as_proxy('msg_x1', lp.created('user_x1')) AS receive;
SELECT last_error FROM clerk_sync.inbox WHERE msg_id = 'msg_x1';

-- 7. What the webhook roles can reach: the one entry point each, no table, no other function.
SELECT r.rolname, p.oid::regprocedure AS executable
FROM pg_proc p CROSS JOIN pg_roles r
WHERE p.pronamespace IN ('clerk_sync'::regnamespace, 'api'::regnamespace)
  AND r.rolname IN ('clerk_lp_proxy', 'clerk_lp_anon')
  AND has_function_privilege(r.oid, p.oid, 'EXECUTE')
ORDER BY 1, 2;
SELECT r.rolname, c.relname AS readable
FROM pg_class c CROSS JOIN pg_roles r
WHERE c.relnamespace = 'clerk_sync'::regnamespace AND c.relkind IN ('r', 'v', 'S')
  AND r.rolname IN ('clerk_lp_proxy', 'clerk_lp_anon')
  AND has_table_privilege(r.oid, c.oid, 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE')
ORDER BY 1, 2;

-- 8. expose_webhook does not take over a function another role created in the API schema.
CREATE SCHEMA api2 AUTHORIZATION clerk_lp_app;
SET ROLE clerk_lp_app;
CREATE FUNCTION api2.clerk_webhook(json) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{}'::jsonb $$;
RESET ROLE;
SELECT clerk_sync.expose_webhook('api2', 'clerk_lp_anon');
SELECT pg_get_userbyid(proowner) AS owner, prosrc FROM pg_proc WHERE oid = 'api2.clerk_webhook(json)'::regprocedure;
SELECT clerk_sync.expose_webhook('api2', 'clerk_lp_anon', 'hook');
SELECT pg_get_userbyid(proowner) AS owner FROM pg_proc WHERE oid = 'api2.hook(json)'::regprocedure;

-- 9. sync --reconcile: the rows Clerk's listing lacked are read, and removed, as the table's
-- owner. A row-level security policy (forced on the owner) and a DELETE trigger try to escalate.
SET ROLE clerk_lp_app;
DROP TRIGGER at_commit ON "User";
ALTER TABLE "User" ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY escalate ON "User" USING (public.escalate('policy', "clerkUserId"));
CREATE FUNCTION public.escalate_on_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM public.escalate('delete', OLD."clerkUserId");
    RETURN OLD;
END $$;
CREATE TRIGGER escalate_on_delete BEFORE DELETE ON "User" FOR EACH ROW EXECUTE FUNCTION public.escalate_on_delete();
RESET ROLE;
SELECT u FROM clerk_sync.unlisted_users(ARRAY(SELECT "clerkUserId" FROM "User" WHERE "clerkUserId" <> 'user_b1')) AS u;
SELECT * FROM clerk_sync.remove_unlisted('{user_b1}', '{}', '{}', now());
SELECT * FROM lp.app_is_superuser;
SET ROLE clerk_lp_app;
DROP POLICY escalate ON "User";
ALTER TABLE "User" DISABLE ROW LEVEL SECURITY;
RESET ROLE;
SELECT * FROM clerk_sync.remove_unlisted('{user_b1}', '{}', '{}', now());
SELECT * FROM lp.app_is_superuser;
SET ROLE clerk_lp_app;
DROP TRIGGER escalate_on_delete ON "User";
RESET ROLE;
SELECT * FROM clerk_sync.remove_unlisted('{user_b1}', '{}', '{}', now());
SELECT count(*) AS user_b1_rows FROM "User" WHERE "clerkUserId" = 'user_b1';

-- 10. The organizations and memberships tables are written as their owner too: a trigger on each
-- tries to escalate through an organization event and a membership event.
SET ROLE clerk_lp_app;
CREATE TABLE "Organization" ("id" text PRIMARY KEY, "clerkOrgId" text NOT NULL UNIQUE, "name" text NOT NULL,
    "slug" text UNIQUE, "imageUrl" text, "createdAt" timestamp(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" timestamp(3) NOT NULL);
CREATE TABLE "Membership" ("id" text PRIMARY KEY, "clerkMembershipId" text NOT NULL UNIQUE,
    "organizationId" text NOT NULL REFERENCES "Organization" ON DELETE CASCADE,
    "userId" text NOT NULL REFERENCES "User" ON DELETE CASCADE, "role" text NOT NULL,
    "createdAt" timestamp(3) NOT NULL DEFAULT CURRENT_TIMESTAMP, "updatedAt" timestamp(3) NOT NULL);
CREATE FUNCTION public.escalate_any() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM public.escalate(TG_TABLE_NAME, NULL);
    RETURN NEW;
END $$;
CREATE TRIGGER escalate BEFORE INSERT ON "Organization" FOR EACH ROW EXECUTE FUNCTION public.escalate_any();
RESET ROLE;
SELECT clerk_sync.clerk_apply(jsonb_build_object('type', 'organization.created', 'object', 'event', 'timestamp', 1,
    'data', jsonb_build_object('object', 'organization', 'id', 'org_lp', 'name', 'LP', 'created_at', 1, 'updated_at', 1)));
SELECT * FROM lp.app_is_superuser;
SET ROLE clerk_lp_app;
DROP TRIGGER escalate ON "Organization";
CREATE TRIGGER escalate BEFORE INSERT ON "Membership" FOR EACH ROW EXECUTE FUNCTION public.escalate_any();
RESET ROLE;
SELECT clerk_sync.clerk_apply(jsonb_build_object('type', 'organizationMembership.created', 'object', 'event',
    'timestamp', 2, 'data', jsonb_build_object('object', 'organization_membership', 'id', 'orgmem_lp', 'role', 'org:admin',
        'created_at', 2, 'updated_at', 2,
        'organization', jsonb_build_object('object', 'organization', 'id', 'org_lp', 'name', 'LP', 'created_at', 1, 'updated_at', 1),
        'public_user_data', jsonb_build_object('user_id', 'user_lp', 'identifier', 'lp@example.com'))));
SELECT * FROM lp.app_is_superuser;
SET ROLE clerk_lp_app;
DROP TRIGGER escalate ON "Membership";
RESET ROLE;
SELECT clerk_sync.clerk_apply(jsonb_build_object('type', 'organizationMembership.created', 'object', 'event',
    'timestamp', 2, 'data', jsonb_build_object('object', 'organization_membership', 'id', 'orgmem_lp', 'role', 'org:admin',
        'created_at', 2, 'updated_at', 2,
        'organization', jsonb_build_object('object', 'organization', 'id', 'org_lp', 'name', 'LP', 'created_at', 1, 'updated_at', 1),
        'public_user_data', jsonb_build_object('user_id', 'user_lp', 'identifier', 'lp@example.com'))));
SELECT o."clerkOrgId", m.role, u."clerkUserId" FROM "Membership" m JOIN "Organization" o ON o.id = m."organizationId"
JOIN "User" u ON u.id = m."userId";

-- 11. The caller's temporary schema. An app trigger function with its own search_path (pg_temp
-- not listed, so searched first for tables) writes "audit": the calling session — here the
-- proxy's role — plants pg_temp.audit with a trigger of its own, to run code as the table's owner.
-- Nothing is written as the owner while the caller's temporary schema holds objects: the
-- delivery is refused (42501) and kept as failed, and applied once the session drops them.
SET ROLE clerk_lp_app;
DROP TRIGGER stamp ON "User";
CREATE FUNCTION public.audit_new_user() RETURNS trigger LANGUAGE plpgsql SET search_path = public AS $$
BEGIN
    INSERT INTO audit VALUES (NEW."clerkUserId", current_user, 'audit');
    RETURN NEW;
END $$;
CREATE TRIGGER audit_new_user BEFORE INSERT ON "User" FOR EACH ROW EXECUTE FUNCTION public.audit_new_user();
RESET ROLE;
SET ROLE clerk_lp_proxy;
CREATE TEMP TABLE audit (clerk_user_id text, ran_as text, way text);
CREATE FUNCTION pg_temp.hijack() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.way := 'hijacked by the caller, running as ' || current_user;
    RETURN NEW;
END $$;
CREATE TRIGGER hijack BEFORE INSERT ON pg_temp.audit FOR EACH ROW EXECUTE FUNCTION pg_temp.hijack();
RESET ROLE;
SELECT lp.deliver_as_proxy('msg_tmp1', lp.created('user_tmp1')) AS receive;
SELECT outcome, error_code, last_error FROM clerk_sync.inbox WHERE msg_id = 'msg_tmp1';
SELECT count(*) AS hijacked FROM pg_temp.audit;
SELECT lp.deliver_as_postgrest('msg_tmp2', lp.created('user_tmp2')) AS webhook;
SELECT clerk_sync.ensure_user('{"sub": "user_tmp3"}') IS NULL AS no_provisional_row;
SELECT count(*) AS hijacked FROM pg_temp.audit;
DISCARD TEMP;
SELECT lp.deliver_as_proxy('msg_tmp1', lp.created('user_tmp1')) AS receive;
SELECT clerk_user_id, ran_as, way FROM audit WHERE way = 'audit' ORDER BY 1;

\c contract_regression
SET client_min_messages = warning;
DROP DATABASE clerk_sync_least_privilege;
DROP ROLE clerk_lp_app;
DROP ROLE clerk_lp_proxy;
DROP ROLE clerk_lp_anon;
