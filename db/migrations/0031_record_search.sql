-- Keyword search over records' typed columns (issue 12): contacts by name or email, companies by name, leads by name
-- or email, orders by number, customer or product, products by SKU or name. These kinds are records, not indexed
-- text, so `GET /v1/search` found none of them; a trigram index (pg_trgm) over one text per record finds them by any
-- part of a word (an email's domain, a SKU's digits).
CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- The text a record is found by: its typed fields, nothing else (never a description or provider_data). IMMUTABLE
-- (a pure function of the row), kept in a stored generated column: computed once per write, where a function call
-- per row checked cost ~0.2 ms at search time; capped so one order with a thousand lines stays one bounded entry.
-- rag/fields.py shows the same fields as the hit's snippet.
CREATE FUNCTION record_search_text(p_kind text, p_data jsonb) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
    SELECT left(CASE p_kind
        WHEN 'contact' THEN coalesce(p_data->>'first_name', '') || ' ' || coalesce(p_data->>'last_name', '') || ' '
                         || coalesce(p_data->>'email', '') || ' ' || coalesce(p_data->>'company', '') || ' '
                         || coalesce(p_data->>'phone', '')
        WHEN 'lead' THEN coalesce(p_data->>'name', '') || ' ' || coalesce(p_data->>'email', '') || ' '
                      || coalesce(p_data->>'company', '') || ' ' || coalesce(p_data->>'phone', '')
        WHEN 'company' THEN coalesce(p_data->>'name', '') || ' ' || coalesce(p_data->>'domain', '')
        WHEN 'product' THEN coalesce(p_data->>'sku', '') || ' ' || coalesce(p_data->>'name', '')
        WHEN 'order' THEN coalesce(p_data->>'number', '') || ' ' || coalesce(p_data->>'customer_email', '') || ' '
                       || coalesce((SELECT string_agg(coalesce(l->>'sku', '') || ' ' || coalesce(l->>'name', ''), ' ')
                                    FROM jsonb_array_elements(CASE WHEN jsonb_typeof(p_data->'line_items') = 'array'
                                                                   THEN p_data->'line_items' END) AS l), '')
    END, 2000)
$$;

-- NULL for the other kinds. Adding it rewrites `records` once (the projector's upserts name their columns; this one
-- is never written, only computed).
ALTER TABLE records ADD COLUMN search_text text GENERATED ALWAYS AS (record_search_text(kind, data)) STORED;

-- Live records of those kinds only. The candidates function below repeats this predicate word for word, so the
-- planner can prove the partial index applies.
CREATE INDEX records_search_trgm ON records USING gin (search_text gin_trgm_ops)
    WHERE NOT deleted AND kind IN ('company', 'contact', 'lead', 'order', 'product');

-- The transaction's tenant's records holding every term (p_patterns: ILIKE patterns, escaped by the caller; p_lead:
-- the longest of them, the one the index looks up), ranked by trigram word similarity to the whole query (p_query).
-- As rag_keyword_candidates (0003, 0004): row-level security keeps non-leakproof operators (ILIKE, <%) out of index
-- conditions, so this runs as the owner and applies the policies' own tenant condition itself ("no tenant, no rows").
CREATE FUNCTION record_field_candidates(p_lead text, p_patterns text[], p_query text, p_limit integer,
                                        p_kinds text[], p_source text, p_since timestamptz, p_until timestamptz)
RETURNS TABLE (id text, kind text, source text, external_id text, title text, data jsonb, updated_at timestamptz,
               score real)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    -- the first 500 matches the index gives are ranked: a term in thousands of records (a mail domain) costs the
    -- same as a rare one, and names none of them better than the others
    WITH found AS (
        SELECT r.id, r.kind, r.source, r.external_id, r.title, r.data, r.updated_at, r.search_text AS text
        FROM public.records r
        WHERE r.tenant_id = NULLIF(pg_catalog.current_setting('app.tenant_id', true), '')
          AND NOT r.deleted AND r.kind IN ('company', 'contact', 'lead', 'order', 'product')
          AND r.search_text ILIKE p_lead AND r.search_text ILIKE ALL(p_patterns)
          AND (p_kinds IS NULL OR r.kind = ANY(p_kinds)) AND (p_source IS NULL OR r.source = p_source)
          AND (p_since IS NULL OR r.updated_at >= p_since) AND (p_until IS NULL OR r.updated_at < p_until)
        LIMIT 500
    )
    SELECT id, kind, source, external_id, title, data, updated_at, public.word_similarity(p_query, text) AS score
    FROM found
    -- equally close: the record whose fields say least else first (a product before the orders of it)
    ORDER BY score DESC, public.similarity(p_query, text) DESC, updated_at DESC, id
    LIMIT p_limit
$$;
REVOKE EXECUTE ON FUNCTION record_field_candidates(text, text[], text, integer, text[], text, timestamptz,
                                                   timestamptz) FROM PUBLIC;  -- db/migrate.py grants the service role
