-- Hardening (issue 8): no tenant set means no rows; no tenant table holds an empty or malformed tenant id; SECURITY
-- DEFINER functions resolve names only in pg_catalog; a read-only role reads the archive for operator replays; and
-- a record of every erasure that outlives the data it erased.

-- A pooled connection's app.tenant_id reads '' (not NULL) once any transaction has set it, and '' = '' is true: every
-- policy compares with NULLIF(..., '') so that "no tenant" matches nothing.
CREATE OR REPLACE FUNCTION enable_tenant_isolation(tbl regclass) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', tbl);
    EXECUTE format($p$CREATE POLICY tenant_isolation ON %s
        USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), ''))
        WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), ''))$p$, tbl);
    PERFORM tenant_id_check(tbl, 'tenant_id');
END $$;

-- Tenant ids are "ten_" + 26 lower-case base32 characters (gateway/tenancy.py); the rule admits any short lower-case
-- slug (tests and demos use "tenant-a", "t1") and refuses '', whitespace, control characters and upper case.
CREATE FUNCTION tenant_id_check(tbl regclass, col text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format($c$ALTER TABLE %s ADD CONSTRAINT %I CHECK (%I ~ '^[a-z0-9][a-z0-9_-]{0,63}$')$c$,
                   tbl, 'tenant_id_well_formed', col);
END $$;
REVOKE EXECUTE ON FUNCTION enable_tenant_isolation(regclass), tenant_id_check(regclass, text) FROM PUBLIC;

ALTER POLICY tenant_isolation ON tenants
    USING (id = NULLIF(current_setting('app.tenant_id', true), ''))
    WITH CHECK (id = NULLIF(current_setting('app.tenant_id', true), ''));
SELECT tenant_id_check('tenants', 'id');

-- every table 0001-0003 isolated (enable_tenant_isolation made one policy named tenant_isolation per table)
DO $$
DECLARE t regclass;
BEGIN
    FOR t IN SELECT format('%I.%I', schemaname, tablename)::regclass FROM pg_policies
             WHERE schemaname = 'public' AND policyname = 'tenant_isolation' AND tablename <> 'tenants' LOOP
        EXECUTE format($p$ALTER POLICY tenant_isolation ON %s
            USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), ''))
            WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), ''))$p$, t);
        PERFORM tenant_id_check(t, 'tenant_id');
    END LOOP;
END $$;

-- The keyword candidates of 0003, now with search_path = pg_catalog, pg_temp (every name below is pg_catalog's or
-- schema-qualified) and the same "no tenant, no rows" rule as the policies.
CREATE OR REPLACE FUNCTION rag_keyword_candidates(p_index integer, p_query tsquery, p_limit integer, p_kinds text[],
                                                  p_source text, p_agent text, p_since timestamptz,
                                                  p_until timestamptz)
RETURNS TABLE (kind text, source text, external_id text, chunk_no integer, rank real)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT c.kind, c.source, c.external_id, c.chunk_no, pg_catalog.ts_rank_cd(c.tsv, p_query) AS rank
    FROM public.rag_chunks c
    WHERE c.tenant_id = NULLIF(pg_catalog.current_setting('app.tenant_id', true), '')
      AND c.index_id = p_index AND c.tsv @@ p_query
      AND (p_kinds IS NULL OR c.kind = ANY(p_kinds)) AND (p_source IS NULL OR c.source = p_source)
      AND (p_agent IS NULL OR pg_catalog.cardinality(c.agents) = 0 OR p_agent = ANY(c.agents))
      AND (p_since IS NULL OR c.updated_at >= p_since) AND (p_until IS NULL OR c.updated_at < p_until)
    ORDER BY rank DESC, c.kind, c.source, c.external_id, c.chunk_no
    LIMIT p_limit
$$;

-- Operator replays over HTTP read event_log across tenants as a role that can read nothing else and write nothing
-- (docs/decisions.md, "Operator replays over HTTP read the archive as a read-only role"). The login role of
-- BIZOSAAS_DATABASE_READONLY_URL is made a member of this one by `bizosaas migrate`; role names are per cluster.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'bizosaas_archive_reader') THEN
        CREATE ROLE bizosaas_archive_reader NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
    END IF;
END $$;
GRANT SELECT ON event_log TO bizosaas_archive_reader;
CREATE POLICY archive_reader ON event_log FOR SELECT TO bizosaas_archive_reader USING (true);

-- One row per erasure: who asked, when, what kind of selector (never the erased email or id), and what was removed.
-- Not a tenant's data (it must survive the tenant's erasure), so no row-level security; the service role may not
-- read it (db/migrate.py revokes it), only the owner, which the erase command uses.
CREATE TABLE erasures (
    id            text PRIMARY KEY,
    tenant_id     text NOT NULL CHECK (tenant_id ~ '^[a-z0-9][a-z0-9_-]{0,63}$'),
    scope         text NOT NULL CHECK (scope IN ('tenant', 'person')),
    selector      text NOT NULL CHECK (selector IN ('tenant', 'email', 'external_id')),
    requested_by  text NOT NULL,
    started_at    timestamptz NOT NULL,
    finished_at   timestamptz NOT NULL DEFAULT now(),
    counts        jsonb NOT NULL DEFAULT '{}'      -- place -> rows or stream entries removed
);
CREATE INDEX erasures_tenant ON erasures (tenant_id, started_at);
