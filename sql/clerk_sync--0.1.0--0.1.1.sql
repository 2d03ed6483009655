-- clerk_sync 0.1.0 → 0.1.1
-- Released upgrade scripts are never edited; the next release gets a script of its own.

-- Deliveries by outcome: a quick look at the webhook's health.
CREATE FUNCTION clerk_sync.inbox_stats()
RETURNS TABLE (outcome text, deliveries bigint, first_received timestamptz, last_received timestamptz)
LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT i.outcome, pg_catalog.count(*), pg_catalog.min(i.received_at), pg_catalog.max(i.received_at)
    FROM clerk_sync.inbox i
    GROUP BY i.outcome
    ORDER BY i.outcome;
END;
REVOKE EXECUTE ON FUNCTION clerk_sync.inbox_stats() FROM PUBLIC;
