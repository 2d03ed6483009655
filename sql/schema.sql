-- clerk_sync's own tables: signing secrets and settings.
-- Both are kept by pg_dump, readable only by their owner, and every change to them tells each
-- backend to reload its cached copy (see src/own_tables/config_cache.rs).

DO $$
BEGIN
    IF pg_catalog.current_setting('server_encoding') <> 'UTF8' THEN
        RAISE EXCEPTION 'clerk_sync needs a UTF8 database (this one is %)',
            pg_catalog.current_setting('server_encoding')
            USING ERRCODE = 'feature_not_supported',
                  HINT = 'Webhook bodies are verified byte for byte; another encoding would change them. CREATE DATABASE ... ENCODING ''UTF8''.';
    END IF;
END
$$;

CREATE TABLE clerk_sync.secret (
    label       text        PRIMARY KEY CHECK (label <> ''),
    key         bytea       NOT NULL CHECK (octet_length(key) > 0),
    fingerprint text        NOT NULL UNIQUE,
    added_at    timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE clerk_sync.secret IS
    'Svix signing secrets (decoded keys). A request verifies when it is signed by any of them. Manage with clerk_sync.add_secret / remove_secret.';

CREATE TABLE clerk_sync.setting (
    name  text PRIMARY KEY,
    value text NOT NULL,
    CONSTRAINT setting_is_valid CHECK (clerk_sync.setting_is_valid(name, value))
);
COMMENT ON TABLE clerk_sync.setting IS
    'Settings that differ from their defaults. clerk_sync.settings() lists all of them.';

REVOKE ALL ON clerk_sync.secret, clerk_sync.setting FROM PUBLIC;

CREATE TRIGGER config_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON clerk_sync.secret
    FOR EACH STATEMENT EXECUTE FUNCTION clerk_sync.config_changed();
CREATE TRIGGER config_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON clerk_sync.setting
    FOR EACH STATEMENT EXECUTE FUNCTION clerk_sync.config_changed();

SELECT pg_catalog.pg_extension_config_dump('clerk_sync.secret', '');
SELECT pg_catalog.pg_extension_config_dump('clerk_sync.setting', '');

-- One row per Clerk object ever seen — a user, an organization or a membership, keyed by its Clerk
-- id (user_…, org_…, orgmem_…): the newest event time applied (the high-water mark) and, once
-- deleted, the deletion time. A tombstone is never removed: it is what keeps a late or retried
-- event from bringing a deleted object back.
-- Keys are COLLATE "C": Clerk ids and usernames compare byte for byte, and every event pays
-- for these index lookups.
CREATE TABLE clerk_sync.user_state (
    clerk_user_id text COLLATE "C" PRIMARY KEY,
    high_water_ms bigint           NOT NULL,
    deleted_at_ms bigint,
    changed_at    timestamptz      NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE clerk_sync.user_state IS
    'Per Clerk object (user, organization, membership; by Clerk id): high-water mark (Unix ms of the newest applied event) and tombstone (deleted_at_ms).';
REVOKE ALL ON clerk_sync.user_state FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('clerk_sync.user_state', '');

-- Usernames this extension gave out, by owner. Claiming is an insert into this primary key, so
-- two sessions wanting the same name for different users cannot both get it.
CREATE TABLE clerk_sync.username_claim (
    username      text COLLATE "C" PRIMARY KEY,
    clerk_user_id text COLLATE "C" NOT NULL,
    claimed_at    timestamptz      NOT NULL DEFAULT pg_catalog.now()
);
CREATE INDEX username_claim_clerk_user_id ON clerk_sync.username_claim (clerk_user_id);
COMMENT ON TABLE clerk_sync.username_claim IS
    'Usernames written to the target table, by Clerk user; released when the user is deleted or renamed.';
REVOKE ALL ON clerk_sync.username_claim FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('clerk_sync.username_claim', '');
