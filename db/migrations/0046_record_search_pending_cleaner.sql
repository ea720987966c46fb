-- The trigram index of record search (0031) takes new entries into its pending list (GIN's fastupdate) and merges
-- that list into the index when it passes gin_pending_list_limit (4 MB by default) -- inside whichever statement
-- crossed the limit. That was the projector's batch: a 40-290 ms stall every second or so, the tail of publish ->
-- committed at every load (docs/benchmarks.md, "Issue 14 latency, 2026-12-04"). The worker running the projector
-- now merges the list every BIZOSAAS_SEARCH_INDEX_CLEAN_INTERVAL_S in a connection of its own
-- (consumers/search_index.py), and the limit is raised so that a statement crosses it only if that cleaner stops.
ALTER INDEX records_search_trgm SET (gin_pending_list_limit = 32768);  -- kB

-- gin_clean_pending_list needs the index's owner; this is the one thing the service role may do as the owner.
CREATE FUNCTION clean_record_search_pending() RETURNS bigint
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT gin_clean_pending_list('public.records_search_trgm'::regclass)
$$;
REVOKE EXECUTE ON FUNCTION clean_record_search_pending() FROM PUBLIC;  -- db/migrate.py grants the service role
