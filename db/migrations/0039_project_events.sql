-- One round trip per projector batch (issue 14, docs/decisions.md "The projector's batch is one function call").
-- The projector's per-tenant statement (consumers/projector.py PROJECT_SQL) for every tenant of a batch in one call:
-- the batch's columns sorted by tenant, tenant k's archive rows at [log_lo[k]:log_hi[k]] and its newest states at
-- [rec_lo[k]:rec_hi[k]] (an empty slice when lo > hi). SECURITY INVOKER: row-level security applies as to the
-- caller (the service role), and the tenant is set transaction-locally before each tenant's slice, as
-- db.pool.set_tenant does, so a row of another tenant in a slice is refused by the policy's WITH CHECK.
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
    tenants text[],
    log_lo int[],
    log_hi int[],
    rec_lo int[],
    rec_hi int[])
RETURNS void LANGUAGE plpgsql SECURITY INVOKER SET search_path = public, pg_temp AS $$
DECLARE k int; a int; z int; c int; d int;
BEGIN
    FOR k IN 1 .. coalesce(array_length(tenants, 1), 0) LOOP
        PERFORM set_config('app.tenant_id', tenants[k], true);
        a := log_lo[k]; z := log_hi[k]; c := rec_lo[k]; d := rec_hi[k];
        WITH fresh AS (
            INSERT INTO event_log (tenant_id, id, type, source, subject_kind, subject_id, occurred_at, recorded_at, stream, stream_ms, stream_seq, body)
            SELECT * FROM unnest(l_tenant_id[a:z], l_id[a:z], l_type[a:z], l_source[a:z], l_subject_kind[a:z], l_subject_id[a:z], l_occurred_at[a:z], l_recorded_at[a:z], l_stream[a:z], l_stream_ms[a:z], l_stream_seq[a:z], l_body[a:z]) AS n(tenant_id, id, type, source, subject_kind, subject_id, occurred_at, recorded_at, stream, stream_ms, stream_seq, body)
            ON CONFLICT DO NOTHING
            RETURNING id
        )
        INSERT INTO records AS r (tenant_id, kind, source, external_id, id, provider, status, title, amount_minor, currency, updated_at, recorded_at, deleted, data, event_id, stream_ms, stream_seq)
        SELECT tenant_id, kind, source, external_id, id, provider, status, title, amount_minor, currency, updated_at, recorded_at, deleted, data, event_id, stream_ms, stream_seq
        FROM unnest(r_tenant_id[c:d], r_kind[c:d], r_source[c:d], r_external_id[c:d], r_id[c:d], r_provider[c:d], r_status[c:d], r_title[c:d], r_amount_minor[c:d], r_currency[c:d], r_updated_at[c:d], r_recorded_at[c:d], r_deleted[c:d], r_data[c:d], r_event_id[c:d], r_stream_ms[c:d], r_stream_seq[c:d], r_replayed[c:d]) AS n(tenant_id, kind, source, external_id, id, provider, status, title, amount_minor, currency, updated_at, recorded_at, deleted, data, event_id, stream_ms, stream_seq, replayed)
        WHERE n.replayed OR n.event_id IN (SELECT fresh.id FROM fresh)
        ON CONFLICT (tenant_id, kind, source, external_id) DO UPDATE SET provider = excluded.provider, status = excluded.status, title = excluded.title, amount_minor = excluded.amount_minor, currency = excluded.currency, updated_at = excluded.updated_at, recorded_at = excluded.recorded_at, deleted = excluded.deleted, data = excluded.data, event_id = excluded.event_id, stream_ms = excluded.stream_ms, stream_seq = excluded.stream_seq
        WHERE (excluded.updated_at, excluded.stream_ms, excluded.stream_seq) >= (r.updated_at, r.stream_ms, r.stream_seq);
    END LOOP;
END $$;
REVOKE EXECUTE ON FUNCTION project_events(text[], text[], text[], text[], text[], text[], timestamptz[], timestamptz[], text[], int8[], int8[], text[], text[], text[], text[], text[], text[], text[], text[], text[], int8[], text[], timestamptz[], timestamptz[], bool[], jsonb[], text[], int8[], int8[], bool[], text[], int[], int[], int[], int[]) FROM PUBLIC;  -- db/migrate.py grants the service role
