-- The public contract: the names and signatures that callers outside this repository use, and
-- the SQLSTATEs they branch on. A rename or a changed signature shows up here first.
CREATE EXTENSION clerk_sync;
\set VERBOSITY sqlstate

SELECT p.oid::regprocedure AS function, pg_get_function_result(p.oid) AS returns,
       CASE WHEN p.prosecdef THEN 'definer' ELSE 'invoker' END AS security
FROM pg_proc p
WHERE p.pronamespace = 'clerk_sync'::regnamespace
ORDER BY p.oid::regprocedure::text;

SELECT c.relname AS table_name
FROM pg_class c
WHERE c.relnamespace = 'clerk_sync'::regnamespace AND c.relkind = 'r'
ORDER BY 1;

-- Not configured.
SELECT clerk_sync.clerk_verify('{}', '');
SELECT (clerk_sync.receive('{}', '{}'))->>'status' AS status;

-- Secrets.
SELECT clerk_sync.add_secret('not base64!');
SELECT clerk_sync.add_secret('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', 'primary');
SELECT label, fingerprint FROM clerk_sync.secrets();
SELECT clerk_sync.remove_secret('no such label');

-- Signing and verifying the canonical public vector.
SELECT clerk_sync.clerk_sign('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', 'msg_p5jXN8AQM9LWM0D4loKWxJek',
                             1614265330, '{"test": 2432232314}') AS signature;
SELECT verified, reason, msg_id, signed_at AT TIME ZONE 'UTC' AS signed_at_utc
FROM clerk_sync.clerk_verify_report(
    '{"svix-id": "msg_p5jXN8AQM9LWM0D4loKWxJek", "svix-timestamp": "1614265330",
      "svix-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="}',
    '{"test": 2432232314}', to_timestamp(1614265330));
SELECT reason, detail
FROM clerk_sync.clerk_verify_report('{"svix-id": "m", "svix-timestamp": "1", "svix-signature": "v1,x"}', 'b',
                                    to_timestamp(1614265330));

-- Settings.
SELECT name, value, is_default FROM clerk_sync.settings() ORDER BY name;
SELECT clerk_sync.set_setting('timestamp_tolerance', 'soon');
SELECT clerk_sync.set_setting('no_such_setting', '1');

-- Applying: an event without data.id.
SELECT clerk_sync.clerk_apply('{"type": "user.created", "data": {}}');
SELECT clerk_sync.clerk_apply('{"type": "session.created", "data": {"id": "sess_1"}}');

DROP EXTENSION clerk_sync;
