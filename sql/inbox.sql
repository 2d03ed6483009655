-- The inbox: every verified delivery, keyed by its svix-id, with what became of it. Only
-- src/own_tables/inbox.rs writes it (recording deliveries and replays, erasure, prune); here are the table
-- and what only reads it or hands deliveries to replay_each() (src/entry/batches.rs).
-- PL/pgSQL bodies are resolved when they run, so each pins its search_path; SQL-standard bodies
-- (BEGIN ATOMIC, RETURN) are resolved once, at CREATE.

CREATE TABLE clerk_sync.inbox (
    msg_id      text COLLATE "C" PRIMARY KEY,
    event_type  text,
    user_id     text COLLATE "C",
    event_at    timestamptz,
    payload     jsonb,
    raw_body    text,
    received_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    attempts    integer     NOT NULL DEFAULT 0,
    outcome     text        NOT NULL DEFAULT 'pending',
    error_code  text,
    last_error  text,
    applied_at  timestamptz,
    redacted_at timestamptz
);
COMMENT ON TABLE clerk_sync.inbox IS
    'Verified webhook deliveries by svix-id. outcome: created, updated, deleted, stale, ignored, failed (see error_code, last_error) or malformed (a body that is not JSON, kept in raw_body).';
-- lz4 where the server was built with it (Debian's is): it compresses a payload in a fraction of
-- pglz's time, on every delivery.
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_catalog.pg_settings WHERE name = 'default_toast_compression' AND 'lz4'::text = ANY (enumvals)) THEN
        ALTER TABLE clerk_sync.inbox ALTER COLUMN payload SET COMPRESSION lz4;
    END IF;
END
$$;
-- Erasure's way to a user's stored payloads: only deliveries with a payload not erased yet, so
-- that a delivery whose payload is not kept (keep_payloads = failed) writes no entry.
CREATE INDEX inbox_user_id ON clerk_sync.inbox (user_id) WHERE payload IS NOT NULL AND redacted_at IS NULL;
CREATE INDEX inbox_received_at ON clerk_sync.inbox (received_at);
CREATE INDEX inbox_failed ON clerk_sync.inbox (event_at, received_at) WHERE outcome = 'failed';
REVOKE ALL ON clerk_sync.inbox FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('clerk_sync.inbox', '');

-- Applies every failed delivery again, in event order.
CREATE FUNCTION clerk_sync.replay_failed() RETURNS TABLE (msg_id text, outcome text)
LANGUAGE sql VOLATILE
BEGIN ATOMIC
    SELECT * FROM clerk_sync.replay_each(ARRAY(
        SELECT i.msg_id FROM clerk_sync.inbox i WHERE i.outcome = 'failed'
        ORDER BY i.event_at NULLS LAST, i.received_at, i.msg_id));
END;

-- Applies every delivery received in [received_from, received_to) again, in event order.
CREATE FUNCTION clerk_sync.replay_range(received_from timestamptz, received_to timestamptz)
RETURNS TABLE (msg_id text, outcome text)
LANGUAGE sql VOLATILE
BEGIN ATOMIC
    SELECT * FROM clerk_sync.replay_each(ARRAY(
        SELECT i.msg_id FROM clerk_sync.inbox i
        WHERE i.received_at >= replay_range.received_from AND i.received_at < replay_range.received_to
        ORDER BY i.event_at NULLS LAST, i.received_at, i.msg_id));
END;

-- Deliveries by outcome: a quick look at the webhook's health (since 0.1.1).
CREATE FUNCTION clerk_sync.inbox_stats()
RETURNS TABLE (outcome text, deliveries bigint, first_received timestamptz, last_received timestamptz)
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT i.outcome, pg_catalog.count(*), pg_catalog.min(i.received_at), pg_catalog.max(i.received_at)
    FROM clerk_sync.inbox i
    GROUP BY i.outcome
    ORDER BY i.outcome;
END;
