-- clerk_sync 0.3.0 → 0.4.0: organizations and memberships, and reconcile after a sync from
-- Clerk's Backend API (src/reconcile.rs).
-- Released upgrade scripts are never edited; the next release gets a script of its own.

-- Organizations and memberships need no SQL of their own: their settings are rows of
-- clerk_sync.setting (defaults in the library), their state rows sit in user_state by Clerk id.
COMMENT ON TABLE clerk_sync.user_state IS
    'Per Clerk object (user, organization, membership; by Clerk id): high-water mark (Unix ms of the newest applied event) and tombstone (deleted_at_ms).';

CREATE FUNCTION clerk_sync.unlisted_users(listed text[]) RETURNS SETOF text
VOLATILE PARALLEL UNSAFE
SET search_path TO pg_catalog, pg_temp
LANGUAGE c
AS 'MODULE_PATHNAME', 'unlisted_users_wrapper';

CREATE FUNCTION clerk_sync.unlisted_organizations(listed text[]) RETURNS SETOF text
VOLATILE PARALLEL UNSAFE
SET search_path TO pg_catalog, pg_temp
LANGUAGE c
AS 'MODULE_PATHNAME', 'unlisted_organizations_wrapper';

CREATE FUNCTION clerk_sync.unlisted_memberships(listed text[]) RETURNS SETOF text
VOLATILE PARALLEL UNSAFE
SET search_path TO pg_catalog, pg_temp
LANGUAGE c
AS 'MODULE_PATHNAME', 'unlisted_memberships_wrapper';

CREATE FUNCTION clerk_sync.remove_unlisted(clerk_ids text[], listing_began timestamptz)
RETURNS TABLE (clerk_id text, outcome text)
VOLATILE PARALLEL UNSAFE
SET search_path TO pg_catalog, pg_temp
LANGUAGE c
AS 'MODULE_PATHNAME', 'remove_unlisted_wrapper';

-- As sql/finalize.sql does for a fresh install: the owner grants what each role needs.
REVOKE EXECUTE ON FUNCTION clerk_sync.unlisted_users(text[]), clerk_sync.unlisted_organizations(text[]),
    clerk_sync.unlisted_memberships(text[]), clerk_sync.remove_unlisted(text[], timestamptz) FROM PUBLIC;
