-- The operator console lists tenants across tenants. The gateway holds no owner DSN and row-level security hides
-- every tenant from the service role, so this function (run as the owner) answers the directory alone: ids, names
-- and creation times, newest first, nothing else of any tenant. The console checks the operator before calling it.
CREATE FUNCTION tenant_directory(p_limit integer)
RETURNS TABLE (id text, name text, created_at timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT t.id, t.name, t.created_at FROM public.tenants t ORDER BY t.created_at DESC, t.id DESC LIMIT p_limit
$$;

REVOKE EXECUTE ON FUNCTION tenant_directory(integer) FROM PUBLIC;
