-- Everything that makes up clerk_sync's schema, one line per fact, in a stable order: two
-- databases with equal fingerprints have the same extension schema.
WITH ext AS (SELECT oid FROM pg_extension WHERE extname = 'clerk_sync'),
ns AS (SELECT 'clerk_sync'::regnamespace AS oid)
SELECT fact FROM (
    SELECT 'version ' || extversion AS fact FROM pg_extension WHERE extname = 'clerk_sync'
    UNION ALL
    SELECT 'member ' || pg_describe_object(classid, objid, objsubid)
    FROM pg_depend WHERE refclassid = 'pg_extension'::regclass AND refobjid = (SELECT oid FROM ext) AND deptype = 'e'
    UNION ALL
    SELECT 'function ' || p.oid::regprocedure || ' ' || md5(pg_get_functiondef(p.oid)) || ' acl=' || coalesce(p.proacl::text, 'default')
    FROM pg_proc p WHERE p.pronamespace = (SELECT oid FROM ns)
    UNION ALL
    SELECT 'column ' || c.relname || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
           || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
           || coalesce(' default ' || pg_get_expr(d.adbin, d.adrelid), '')
           || CASE WHEN a.attcollation <> 0 THEN ' collate ' || a.attcollation::regcollation::text ELSE '' END
           || CASE WHEN a.attcompression::text <> '' THEN ' compression ' || a.attcompression::text ELSE '' END
    FROM pg_class c
    JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
    LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
    WHERE c.relnamespace = (SELECT oid FROM ns) AND c.relkind IN ('r', 'v', 'p')
    UNION ALL
    SELECT 'index ' || pg_get_indexdef(i.indexrelid)
    FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid WHERE c.relnamespace = (SELECT oid FROM ns)
    UNION ALL
    SELECT 'constraint ' || conrelid::regclass || ' ' || conname || ' ' || pg_get_constraintdef(oid)
    FROM pg_constraint WHERE connamespace = (SELECT oid FROM ns)
    UNION ALL
    SELECT 'trigger ' || pg_get_triggerdef(t.oid)
    FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
    WHERE c.relnamespace = (SELECT oid FROM ns) AND NOT t.tgisinternal
    UNION ALL
    SELECT 'privileges ' || relname || ' ' || coalesce(relacl::text, 'default')
    FROM pg_class WHERE relnamespace = (SELECT oid FROM ns) AND relkind IN ('r', 'v', 'p', 'S')
    UNION ALL
    SELECT 'kept by pg_dump ' || c::regclass::text FROM pg_extension e, unnest(e.extconfig) c WHERE e.extname = 'clerk_sync'
) facts
ORDER BY fact;
