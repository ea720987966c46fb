-- record_search_text (0031) computes records.search_text, a stored generated column, on every write of a record. Two
-- things kept Postgres from inlining it into the column's expression, so every written row paid a SQL-function call
-- (the column cost 11-15 µs of the backend's CPU per inserted row, against 1.5-2 µs inlined, for the same text:
-- bench/record_search_text.py): its SET search_path clause, and the subquery over an order's lines. The lines move to a function
-- of their own, called for orders only, which keeps the clause; record_search_text loses it. Its operators and
-- functions are pg_catalog's, which Postgres searches before any other schema unless a session's search_path lists
-- pg_catalog later, and the one writer of records, project_events(), runs with search_path = pg_catalog, pg_temp (so
-- the helper is named with its schema). The text is the same for every record: no row is rewritten.
CREATE FUNCTION record_search_line_items(p_items jsonb) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
    SELECT string_agg(coalesce(l->>'sku', '') || ' ' || coalesce(l->>'name', ''), ' ')
    FROM jsonb_array_elements(CASE WHEN jsonb_typeof(p_items) = 'array' THEN p_items END) AS l
$$;

CREATE OR REPLACE FUNCTION record_search_text(p_kind text, p_data jsonb) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT left(CASE p_kind
        WHEN 'contact' THEN coalesce(p_data->>'first_name', '') || ' ' || coalesce(p_data->>'last_name', '') || ' '
                         || coalesce(p_data->>'email', '') || ' ' || coalesce(p_data->>'company', '') || ' '
                         || coalesce(p_data->>'phone', '')
        WHEN 'lead' THEN coalesce(p_data->>'name', '') || ' ' || coalesce(p_data->>'email', '') || ' '
                      || coalesce(p_data->>'company', '') || ' ' || coalesce(p_data->>'phone', '')
        WHEN 'company' THEN coalesce(p_data->>'name', '') || ' ' || coalesce(p_data->>'domain', '')
        WHEN 'product' THEN coalesce(p_data->>'sku', '') || ' ' || coalesce(p_data->>'name', '')
        WHEN 'order' THEN coalesce(p_data->>'number', '') || ' ' || coalesce(p_data->>'customer_email', '') || ' '
                       || coalesce(public.record_search_line_items(p_data->'line_items'), '')
    END, 2000)
$$;
