-- The inbox: every verified delivery, keyed by its svix-id, with what became of it.
-- PL/pgSQL bodies are resolved when they run, so each pins its search_path; SQL-standard bodies
-- (BEGIN ATOMIC, RETURN) are resolved once, at CREATE.
-- ingest() records and applies one delivery; replay*() apply stored ones again; prune() keeps
-- what is stored small (erasure, redact_user_payloads(), is in src/inbox.rs).

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
CREATE INDEX inbox_user_id ON clerk_sync.inbox (user_id);
CREATE INDEX inbox_received_at ON clerk_sync.inbox (received_at);
CREATE INDEX inbox_failed ON clerk_sync.inbox (event_at, received_at) WHERE outcome = 'failed';
REVOKE ALL ON clerk_sync.inbox FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('clerk_sync.inbox', '');

-- The envelope's timestamp (Unix ms) as timestamptz; NULL when absent or not a sane number.
CREATE FUNCTION clerk_sync.event_at(payload jsonb) RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE
    WHEN pg_catalog.jsonb_typeof(payload -> 'timestamp') = 'number'
     AND (payload ->> 'timestamp')::numeric BETWEEN 0 AND 100000000000000
    THEN pg_catalog.to_timestamp((payload ->> 'timestamp')::numeric / 1000)
END;

-- The Clerk user an event is about: data.id for user.* events, data.user_id for others.
CREATE FUNCTION clerk_sync.event_user_id(payload jsonb) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE
    WHEN payload ->> 'type' LIKE 'user.%' THEN payload -> 'data' ->> 'id'
    ELSE payload -> 'data' ->> 'user_id'
END;

-- Applies the stored payload of one delivery again and records the outcome. A failure is
-- recorded (outcome 'failed', last_error) and rolled back to this point, never raised.
CREATE FUNCTION clerk_sync.replay(msg_id text) RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    stored jsonb;
    result text;
BEGIN
    SELECT payload INTO stored FROM clerk_sync.inbox WHERE msg_id = replay.msg_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no stored delivery with svix-id "%"', replay.msg_id
            USING ERRCODE = 'undefined_object', HINT = 'SELECT msg_id FROM clerk_sync.inbox lists them.';
    END IF;
    BEGIN
        result := clerk_sync.clerk_apply(stored);
        UPDATE clerk_sync.inbox
        SET attempts = attempts + 1, outcome = result, error_code = NULL, last_error = NULL,
            applied_at = pg_catalog.now()
        WHERE msg_id = replay.msg_id;
    EXCEPTION WHEN OTHERS THEN
        UPDATE clerk_sync.inbox
        SET attempts = attempts + 1, outcome = 'failed', error_code = SQLSTATE,
            last_error = SQLSTATE || ': ' || SQLERRM
        WHERE msg_id = replay.msg_id;
        result := 'failed';
    END;
    RETURN result;
END
$$;

-- Records one verified delivery and applies it. A redelivery of an applied id changes nothing
-- and answers 'duplicate'; a redelivery of a failed one is applied again.
CREATE FUNCTION clerk_sync.ingest(msg_id text, payload jsonb) RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    previous text;
BEGIN
    INSERT INTO clerk_sync.inbox (msg_id, event_type, user_id, event_at, payload)
    VALUES (ingest.msg_id, ingest.payload ->> 'type', clerk_sync.event_user_id(ingest.payload),
            clerk_sync.event_at(ingest.payload), ingest.payload)
    ON CONFLICT (msg_id) DO NOTHING;
    IF NOT FOUND THEN
        SELECT outcome INTO previous FROM clerk_sync.inbox WHERE msg_id = ingest.msg_id FOR UPDATE;
        IF previous <> 'failed' THEN
            RETURN 'duplicate';
        END IF;
    END IF;
    RETURN clerk_sync.replay(ingest.msg_id);
END
$$;

-- Applies the given deliveries again, one after the other, each in its own subtransaction.
CREATE FUNCTION clerk_sync.replay_each(msg_ids text[]) RETURNS TABLE (msg_id text, outcome text)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    FOREACH msg_id IN ARRAY msg_ids LOOP
        outcome := clerk_sync.replay(msg_id);
        RETURN NEXT;
    END LOOP;
END
$$;

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

-- Retention: deletes deliveries received before now() - older_than. Failed deliveries are kept
-- unless include_failed, so that no event is lost to pruning by accident.
CREATE FUNCTION clerk_sync.prune(older_than interval, include_failed boolean DEFAULT false) RETURNS bigint
LANGUAGE sql VOLATILE
BEGIN ATOMIC
    WITH pruned AS (
        DELETE FROM clerk_sync.inbox
        WHERE received_at < pg_catalog.now() - prune.older_than
          AND (prune.include_failed OR outcome <> 'failed')
        RETURNING 1
    )
    SELECT pg_catalog.count(*) FROM pruned;
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
