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
