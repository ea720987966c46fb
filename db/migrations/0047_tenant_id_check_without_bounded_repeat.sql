-- The same rule for well-formed tenant ids (0004: a lower-case letter or digit, then up to 63 of letters, digits, '_'
-- and '-'), written so that Postgres checks it in a tenth of the time. The regular expression `{0,63}` unrolls into
-- 63 states that the regex engine builds afresh on every check: 5.1 us per row against 0.5 us for `*` plus a length
-- bound (docs/benchmarks.md, "Issue 14 latency, 2026-12-04"), paid on every row written to every tenant table -- twice
-- per event by the projector, once per attempt by the outbound group.
CREATE OR REPLACE FUNCTION tenant_id_check(tbl regclass, col text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format($c$ALTER TABLE %s ADD CONSTRAINT %I CHECK (%I ~ '^[a-z0-9][a-z0-9_-]*$' AND length(%I) <= 64)$c$,
                   tbl, 'tenant_id_well_formed', col, col);
END $$;
REVOKE EXECUTE ON FUNCTION tenant_id_check(regclass, text) FROM PUBLIC;

-- Every existing constraint of that name, on the column it checks. The rows already passed the stricter-looking
-- (identical) rule, so the new constraint is added NOT VALID and validated at once (a scan, no write lock).
DO $$
DECLARE c record;
BEGIN
    FOR c IN SELECT con.conrelid::regclass AS tbl, att.attname AS col
             FROM pg_constraint con
             JOIN pg_attribute att ON att.attrelid = con.conrelid AND att.attnum = con.conkey[1]
             WHERE con.conname = 'tenant_id_well_formed' LOOP
        EXECUTE format('ALTER TABLE %s DROP CONSTRAINT tenant_id_well_formed', c.tbl);
        EXECUTE format($c$ALTER TABLE %s ADD CONSTRAINT tenant_id_well_formed
                          CHECK (%I ~ '^[a-z0-9][a-z0-9_-]*$' AND length(%I) <= 64) NOT VALID$c$, c.tbl, c.col, c.col);
        EXECUTE format('ALTER TABLE %s VALIDATE CONSTRAINT tenant_id_well_formed', c.tbl);
    END LOOP;
END $$;
