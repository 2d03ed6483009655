-- clerk_sync 0.2.0 → 0.3.0: replays and imports in batches.
-- Released upgrade scripts are never edited; the next release gets a script of its own.
-- replay_each (and through it replay_failed and replay_range) moves from a PL/pgSQL loop over
-- replay() into the library, which plans a thousand events at a time and writes them in a few
-- set-based statements (src/batch.rs); backfill does the same inside the library already.

CREATE OR REPLACE FUNCTION clerk_sync.replay_each(msg_ids text[]) RETURNS TABLE (msg_id text, outcome text)
VOLATILE PARALLEL UNSAFE
SET search_path TO pg_catalog, pg_temp
LANGUAGE c
AS 'MODULE_PATHNAME', 'replay_each_wrapper';

-- The first request before the webhook, row-level security and change notifications
-- (src/identity.rs, src/notify.rs). The settings instance_id and notify_channel need no SQL.
CREATE FUNCTION clerk_sync.ensure_user() RETURNS text
STRICT VOLATILE SECURITY DEFINER PARALLEL UNSAFE
SET search_path TO pg_catalog, pg_temp
LANGUAGE c
AS 'MODULE_PATHNAME', 'ensure_user_wrapper';

CREATE FUNCTION clerk_sync.ensure_user(claims jsonb) RETURNS text
VOLATILE SECURITY DEFINER PARALLEL UNSAFE
SET search_path TO pg_catalog, pg_temp
LANGUAGE c
AS 'MODULE_PATHNAME', 'ensure_user_with_wrapper';

CREATE FUNCTION clerk_sync.user_id() RETURNS text
STRICT STABLE PARALLEL SAFE
LANGUAGE c
AS 'MODULE_PATHNAME', 'user_id_wrapper';

CREATE FUNCTION clerk_sync.org_id() RETURNS text
STRICT STABLE PARALLEL SAFE
LANGUAGE c
AS 'MODULE_PATHNAME', 'org_id_wrapper';

CREATE FUNCTION clerk_sync.org_role() RETURNS text
STRICT STABLE PARALLEL SAFE
LANGUAGE c
AS 'MODULE_PATHNAME', 'org_role_wrapper';

CREATE FUNCTION clerk_sync.org_slug() RETURNS text
STRICT STABLE PARALLEL SAFE
LANGUAGE c
AS 'MODULE_PATHNAME', 'org_slug_wrapper';

-- One body limit: a proxy takes it from the database (src/settings.rs).
CREATE FUNCTION clerk_sync.max_body_bytes() RETURNS bigint
STRICT STABLE SECURITY DEFINER PARALLEL SAFE
SET search_path TO pg_catalog, pg_temp
LANGUAGE c
AS 'MODULE_PATHNAME', 'max_body_bytes_wrapper';

-- Operating it (src/status.rs).
CREATE FUNCTION clerk_sync.status() RETURNS jsonb
STRICT STABLE SECURITY DEFINER PARALLEL SAFE
SET search_path TO pg_catalog, pg_temp
LANGUAGE c
AS 'MODULE_PATHNAME', 'status_wrapper';

CREATE FUNCTION clerk_sync.doctor() RETURNS TABLE (severity text, problem text, fix text)
STRICT STABLE SECURITY DEFINER PARALLEL SAFE
SET search_path TO pg_catalog, pg_temp
LANGUAGE c
AS 'MODULE_PATHNAME', 'doctor_wrapper';

-- As sql/finalize.sql does for a fresh install: the owner grants what each role needs.
REVOKE EXECUTE ON FUNCTION clerk_sync.ensure_user(), clerk_sync.ensure_user(jsonb), clerk_sync.user_id(),
    clerk_sync.org_id(), clerk_sync.org_role(), clerk_sync.org_slug(), clerk_sync.max_body_bytes(), clerk_sync.status(), clerk_sync.doctor() FROM PUBLIC;
