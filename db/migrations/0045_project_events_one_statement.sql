-- The projector's batch in one statement for all its tenants (issue 14, docs/decisions.md "The projector writes a
-- batch's tenants in one statement, as a role admitted only for them"). 0039 ran one statement per tenant, switching
-- app.tenant_id before each; with 50 tenants in a batch of 60-130 events those statements were most of Postgres's
-- cost per event at half load (docs/benchmarks.md, "Issue 14 latency, 2026-12-04").
--
-- The function runs as `bizosaas_projector`: a role that cannot log in, that no login role is a member of, and that
-- holds only SELECT, INSERT and UPDATE on event_log and records. Its policy admits the rows of the tenants the
-- caller names in `tenants` (app.batch_tenants, transaction-local, emptied again before the function returns): no
-- tenants named, no rows. Everything else the service role does still runs under app.tenant_id.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'bizosaas_projector') THEN
        CREATE ROLE bizosaas_projector NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
    END IF;
END $$;
GRANT bizosaas_projector TO CURRENT_USER;  -- the migrating role must be able to make it the function's owner
GRANT USAGE ON SCHEMA public TO bizosaas_projector;
GRANT SELECT, INSERT ON event_log TO bizosaas_projector;
GRANT SELECT, INSERT, UPDATE ON records TO bizosaas_projector;
CREATE POLICY projector_batch ON event_log TO bizosaas_projector
    USING (tenant_id = ANY (string_to_array(NULLIF(current_setting('app.batch_tenants', true), ''), ',')))
    WITH CHECK (tenant_id = ANY (string_to_array(NULLIF(current_setting('app.batch_tenants', true), ''), ',')));
CREATE POLICY projector_batch ON records TO bizosaas_projector
    USING (tenant_id = ANY (string_to_array(NULLIF(current_setting('app.batch_tenants', true), ''), ',')))
    WITH CHECK (tenant_id = ANY (string_to_array(NULLIF(current_setting('app.batch_tenants', true), ''), ',')));

DROP FUNCTION project_events(text[], text[], text[], text[], text[], text[], timestamptz[], timestamptz[], text[],
    int8[], int8[], text[], text[], text[], text[], text[], text[], text[], text[], text[], int8[], text[],
    timestamptz[], timestamptz[], bool[], jsonb[], text[], int8[], int8[], bool[], text[], int[], int[], int[], int[]);

-- Archive the events, then project the newest states whose event was archived just now (not seen before) or
-- replayed: consumers/projector.py PROJECT_SQL, for every tenant of the batch at once. Every match between the two
-- inserts, and the upsert's conflict target, includes tenant_id.
CREATE FUNCTION project_events(
    l_tenant_id text[],
    l_id text[],
    l_type text[],
    l_source text[],
    l_subject_kind text[],
    l_subject_id text[],
    l_occurred_at timestamptz[],
    l_recorded_at timestamptz[],
    l_stream text[],
    l_stream_ms int8[],
    l_stream_seq int8[],
    l_body text[],
    r_tenant_id text[],
    r_kind text[],
    r_source text[],
    r_external_id text[],
    r_id text[],
    r_provider text[],
    r_status text[],
    r_title text[],
    r_amount_minor int8[],
    r_currency text[],
    r_updated_at timestamptz[],
    r_recorded_at timestamptz[],
    r_deleted bool[],
    r_data jsonb[],
    r_event_id text[],
    r_stream_ms int8[],
    r_stream_seq int8[],
    r_replayed bool[],
    tenants text[])
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM set_config('app.batch_tenants', array_to_string(tenants, ','), true);
    WITH fresh AS (
        INSERT INTO public.event_log (tenant_id, id, type, source, subject_kind, subject_id, occurred_at, recorded_at, stream, stream_ms, stream_seq, body)
        SELECT * FROM unnest(l_tenant_id, l_id, l_type, l_source, l_subject_kind, l_subject_id, l_occurred_at, l_recorded_at, l_stream, l_stream_ms, l_stream_seq, l_body)
        ON CONFLICT DO NOTHING
        RETURNING tenant_id, id
    )
    INSERT INTO public.records AS r (tenant_id, kind, source, external_id, id, provider, status, title, amount_minor, currency, updated_at, recorded_at, deleted, data, event_id, stream_ms, stream_seq)
    SELECT n.tenant_id, kind, source, external_id, n.id, provider, status, title, amount_minor, currency, updated_at, recorded_at, deleted, data, event_id, stream_ms, stream_seq
    FROM unnest(r_tenant_id, r_kind, r_source, r_external_id, r_id, r_provider, r_status, r_title, r_amount_minor, r_currency, r_updated_at, r_recorded_at, r_deleted, r_data, r_event_id, r_stream_ms, r_stream_seq, r_replayed) AS n(tenant_id, kind, source, external_id, id, provider, status, title, amount_minor, currency, updated_at, recorded_at, deleted, data, event_id, stream_ms, stream_seq, replayed)
    WHERE n.replayed OR (n.tenant_id, n.event_id) IN (SELECT fresh.tenant_id, fresh.id FROM fresh)
    ON CONFLICT (tenant_id, kind, source, external_id) DO UPDATE SET provider = excluded.provider, status = excluded.status, title = excluded.title, amount_minor = excluded.amount_minor, currency = excluded.currency, updated_at = excluded.updated_at, recorded_at = excluded.recorded_at, deleted = excluded.deleted, data = excluded.data, event_id = excluded.event_id, stream_ms = excluded.stream_ms, stream_seq = excluded.stream_seq
    WHERE (excluded.updated_at, excluded.stream_ms, excluded.stream_seq) >= (r.updated_at, r.stream_ms, r.stream_seq);
    PERFORM set_config('app.batch_tenants', '', true);
END $$;
ALTER FUNCTION project_events(text[], text[], text[], text[], text[], text[], timestamptz[], timestamptz[], text[],
    int8[], int8[], text[], text[], text[], text[], text[], text[], text[], text[], text[], int8[], text[],
    timestamptz[], timestamptz[], bool[], jsonb[], text[], int8[], int8[], bool[], text[]) OWNER TO bizosaas_projector;
REVOKE EXECUTE ON FUNCTION project_events(text[], text[], text[], text[], text[], text[], timestamptz[], timestamptz[],
    text[], int8[], int8[], text[], text[], text[], text[], text[], text[], text[], text[], text[], int8[], text[],
    timestamptz[], timestamptz[], bool[], jsonb[], text[], int8[], int8[], bool[], text[]) FROM PUBLIC;  -- db/migrate.py grants the service role
