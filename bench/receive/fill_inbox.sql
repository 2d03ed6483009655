-- n stored deliveries received days ago (for the prune measurement): the fixture's payload,
-- distinct message and user ids. Run by scripts/bench capacity with -v n=<rows>.
\set ON_ERROR_STOP on
INSERT INTO clerk_sync.inbox (msg_id, event_type, user_id, event_at, payload, received_at, attempts, outcome, applied_at)
SELECT 'msg_old_' || i, 'user.updated', 'user_old_' || i, now() - interval '40 days',
       e.body::jsonb, now() - interval '40 days' + i * interval '1 ms', 1, 'updated', now() - interval '40 days'
FROM generate_series(1, :n) AS i, (SELECT body FROM bench.event WHERE seq = 1) e;
VACUUM ANALYZE clerk_sync.inbox;
