-- The HTTP entry points. receive() is the whole pipeline for any proxy; webhook(json) is the
-- same for PostgREST; expose_webhook() publishes it in PostgREST's API schema.
-- Both entry points are SECURITY DEFINER with a pinned search_path, so the role that calls them
-- needs EXECUTE on them and nothing else.

-- Verifies, records and applies one delivery; never raises for anything a sender can send.
-- Returns {"status": <HTTP status>, "outcome": ..., "id": <svix-id>, ...}:
--   200 created, updated, deleted, stale, ignored, duplicate
--   400 malformed (verified, but the body is not JSON, or not a valid Clerk event; kept)
--   401 unverified (nothing stored; "reason" says why)
--   413 too_large (over setting max_body_bytes; nothing stored)
--   500 failed (applying failed; the delivery is kept with its error, and retried when Svix
--       redelivers it) or not_configured (no signing secret)
CREATE FUNCTION clerk_sync.receive(headers jsonb, body text) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    verification record;
    payload jsonb;
    outcome text;
    failure_code text;
BEGIN
    IF octet_length(body) > clerk_sync.setting_value('max_body_bytes')::bigint THEN
        RETURN jsonb_build_object('status', 413, 'outcome', 'too_large');
    END IF;

    BEGIN
        SELECT * INTO verification FROM clerk_sync.clerk_verify_report(headers, body);
    EXCEPTION WHEN object_not_in_prerequisite_state THEN
        RETURN jsonb_build_object('status', 500, 'outcome', 'not_configured', 'error', SQLERRM);
    END;
    IF NOT verification.verified THEN
        RETURN jsonb_build_object('status', 401, 'outcome', 'unverified', 'reason', verification.reason);
    END IF;

    BEGIN
        payload := body::jsonb;
    EXCEPTION WHEN OTHERS THEN
        INSERT INTO clerk_sync.inbox (msg_id, raw_body, attempts, outcome, error_code, last_error)
        VALUES (verification.msg_id, body, 1, 'malformed', SQLSTATE, SQLSTATE || ': ' || SQLERRM)
        ON CONFLICT (msg_id) DO UPDATE SET attempts = clerk_sync.inbox.attempts + 1;
        RETURN jsonb_build_object('status', 400, 'outcome', 'malformed', 'id', verification.msg_id);
    END;

    outcome := clerk_sync.ingest(verification.msg_id, payload);
    IF outcome = 'failed' THEN
        SELECT error_code INTO failure_code FROM clerk_sync.inbox WHERE msg_id = verification.msg_id;
    END IF;
    RETURN jsonb_build_object(
        'status', CASE WHEN outcome <> 'failed' THEN 200 WHEN failure_code = '22023' THEN 400 ELSE 500 END,
        'outcome', outcome,
        'id', verification.msg_id,
        'type', payload ->> 'type',
        'user_id', clerk_sync.event_user_id(payload))
        || CASE WHEN outcome = 'failed' THEN jsonb_build_object('error_code', failure_code) ELSE '{}' END;
END
$$;

-- The PostgREST entry point: one unnamed json parameter, so PostgREST passes the raw body
-- unchanged; headers from request.headers; the HTTP status through response.status, so that the
-- transaction (and the inbox row) commits whatever the status.
CREATE FUNCTION clerk_sync.webhook(json) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    headers jsonb;
    result jsonb;
BEGIN
    BEGIN
        headers := nullif(current_setting('request.headers', true), '')::jsonb;
    EXCEPTION WHEN OTHERS THEN
        headers := NULL;
    END;
    result := clerk_sync.receive(coalesce(headers, '{}'::jsonb), $1::text);
    PERFORM set_config('response.status', result ->> 'status', true);
    RETURN result;
END
$$;

-- Publishes the webhook in PostgREST's API schema as <api_schema>.<function_name>(json) and
-- lets anon_role call it (and nothing else of clerk_sync). Returns the path to append to the
-- PostgREST URL for the Clerk dashboard. A function of that name that another role owns is
-- refused: CREATE OR REPLACE would keep its owner, who could later change what anon_role runs.
CREATE FUNCTION clerk_sync.expose_webhook(api_schema name, anon_role name, function_name name DEFAULT 'clerk_webhook')
RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    existing_owner name;
BEGIN
    SELECT pg_get_userbyid(p.proowner) INTO existing_owner
    FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
    WHERE n.nspname = api_schema AND p.proname = function_name;
    IF FOUND AND existing_owner <> current_user THEN
        RAISE EXCEPTION 'function %.% already exists and belongs to role %', api_schema, function_name, existing_owner
            USING ERRCODE = 'insufficient_privilege',
                  HINT = format('Drop it first (DROP FUNCTION %I.%I), or pass another function_name.', api_schema, function_name);
    END IF;
    EXECUTE format('CREATE SCHEMA IF NOT EXISTS %I', api_schema);
    EXECUTE format(
        'CREATE OR REPLACE FUNCTION %I.%I(json) RETURNS jsonb LANGUAGE sql VOLATILE '
        'SET search_path = pg_catalog, pg_temp AS %L',
        api_schema, function_name, 'SELECT clerk_sync.webhook($1)');
    EXECUTE format('COMMENT ON FUNCTION %I.%I(json) IS %L', api_schema, function_name,
                   'Clerk webhook endpoint (clerk_sync): POST the raw Svix request here.');
    EXECUTE format('REVOKE ALL ON FUNCTION %I.%I(json) FROM PUBLIC', api_schema, function_name);
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO %I', api_schema, anon_role);
    EXECUTE format('GRANT EXECUTE ON FUNCTION %I.%I(json) TO %I', api_schema, function_name, anon_role);
    EXECUTE format('GRANT USAGE ON SCHEMA clerk_sync TO %I', anon_role);
    EXECUTE format('GRANT EXECUTE ON FUNCTION clerk_sync.webhook(json) TO %I', anon_role);
    RETURN format('/rpc/%s', function_name);
END
$$;
