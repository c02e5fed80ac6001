"""Read the live schema of the indexer from PostgreSQL's catalog: SQL only, one round trip.

``bazooka verify`` must work inside Lambda, where there is no ``pg_dump``, and must not cost a
query per table. So the whole schema (relations, columns, constraints, indexes, views,
sequences, functions, triggers, types, extensions, policies, rules, statistics objects, and
any operator, collation, text search object or event trigger), with their comments and
privileges, the schema's privileges and the default privileges, comes
back as ONE JSON document from ONE query, sent together with the settings it needs as a single
simple-protocol message: one round trip, whatever the number of tables.

The settings are fixed for the read (``SET LOCAL``, undone when the read ends) because the
``pg_get_*def`` functions print according to the session: the time zone and date style change
the timestamp literals of partial-index predicates, the search path changes which names are
schema-qualified. Objects that belong to an extension are left to the extension itself.
What the rows mean, and how they are made comparable, is :mod:`bazooka.postgres.schema_model`.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import pq, sql

from bazooka.errors import PostgresError
from bazooka.postgres.liveness import exclusive_holders

Connection = psycopg.Connection[tuple[Any, ...]]

INDEXER_SCHEMA = "public"

# Session settings that change how the catalog functions print definitions.
_SETTINGS = (
    "SET LOCAL search_path = {schema}; SET LOCAL TimeZone = 'UTC'; "
    "SET LOCAL DateStyle = 'ISO, MDY'; SET LOCAL IntervalStyle = 'postgres'; "
    "SET LOCAL extra_float_digits = 1; SET LOCAL bytea_output = 'hex'; "
    # Reading a definition waits for DDL that holds its table; never for ever.
    "SET LOCAL lock_timeout = {lock_timeout};"
)
LOCK_TIMEOUT_S = 30.0  # how long the read waits for DDL holding a table of the schema

# Members of extensions are described by their extension, not one by one.
_NOT_EXTENSION_MEMBER = """NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = '{cat}'::regclass
    AND d.objid = {oid} AND d.deptype = 'e')"""

# A comment, and one privilege of an ACL as text: ``ro SELECT``, ``PUBLIC EXECUTE``,
# ``(owner) DELETE``, ``ro SELECT WITH GRANT OPTION``. Grantors are not compared.
_COMMENT = """(SELECT d.description FROM pg_description d WHERE d.classoid = '{cat}'::regclass
    AND d.objoid = {oid} AND d.objsubid = 0)"""
_ENTRY = (
    "CASE WHEN a.grantee = 0 THEN 'PUBLIC' WHEN a.grantee = {owner} THEN '(owner)' "
    "ELSE pg_get_userbyid(a.grantee)::text END || ' ' || a.privilege_type "
    "|| CASE WHEN a.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END"
)

_QUERY = """
WITH ns AS (SELECT oid FROM pg_namespace WHERE nspname = {schema}),
rels AS (
  SELECT c.* FROM pg_class c
  WHERE c.relnamespace = (SELECT oid FROM ns) AND {rel_not_member}
)
SELECT json_build_object(
 'server_version_num', current_setting('server_version_num')::int,
 'schema_exists', EXISTS (SELECT 1 FROM ns),
 'relations', (SELECT json_agg(json_build_object(
    'name', r.relname, 'relkind', r.relkind, 'persistence', r.relpersistence,
    'options', r.reloptions, 'rls', r.relrowsecurity, 'force_rls', r.relforcerowsecurity,
    'populated', r.relispopulated,
    'partition_bound', CASE WHEN r.relispartition THEN pg_get_expr(r.relpartbound, r.oid) END,
    'partition_key', CASE WHEN r.relkind = 'p' THEN pg_get_partkeydef(r.oid) END,
    'parents', (SELECT json_agg(i.inhparent::regclass::text ORDER BY i.inhseqno)
                FROM pg_inherits i WHERE i.inhrelid = r.oid),
    'view', CASE WHEN r.relkind IN ('v', 'm') THEN pg_get_viewdef(r.oid) END,
    'replica_identity', r.relreplident,
    'comment', {rel_comment}, 'grants', {rel_grants}, 'revokes', {rel_revokes}
  ) ORDER BY r.relname) FROM rels r WHERE r.relkind IN ('r', 'p', 'f', 'v', 'm')),
 'columns', (SELECT json_agg(json_build_object(
    'relation', r.relname, 'name', a.attname, 'type', format_type(a.atttypid, a.atttypmod),
    'not_null', a.attnotnull, 'default', pg_get_expr(ad.adbin, ad.adrelid),
    'identity', a.attidentity, 'generated', a.attgenerated,
    'collation', CASE WHEN a.attcollation <> t.typcollation THEN co.collname END,
    'storage', CASE WHEN a.attstorage <> t.typstorage THEN a.attstorage END,
    'comment', cd.description, 'grants', {col_grants}
  ) ORDER BY r.relname, a.attnum)
  FROM rels r JOIN pg_attribute a ON a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped
  JOIN pg_type t ON t.oid = a.atttypid
  LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
  LEFT JOIN pg_collation co ON co.oid = a.attcollation
  LEFT JOIN pg_description cd ON cd.classoid = 'pg_class'::regclass AND cd.objoid = r.oid
    AND cd.objsubid = a.attnum
  WHERE r.relkind IN ('r', 'p', 'f')),
 'constraints', (SELECT json_agg(json_build_object(
    'relation', r.relname, 'name', c.conname, 'type', c.contype,
    'definition', pg_get_constraintdef(c.oid), 'validated', c.convalidated,
    'triggers_disabled', EXISTS (SELECT 1 FROM pg_trigger t
                                 WHERE t.tgconstraint = c.oid AND t.tgenabled = 'D'),
    'comment', {con_comment}
  ) ORDER BY r.relname, c.conname)
  FROM pg_constraint c JOIN rels r ON r.oid = c.conrelid),
 'indexes', (SELECT json_agg(json_build_object(
    'relation', r.relname, 'name', ic.relname, 'definition', pg_get_indexdef(i.indexrelid),
    'unique', i.indisunique, 'valid', i.indisvalid, 'comment', {idx_comment}
  ) ORDER BY ic.relname)
  FROM pg_index i JOIN rels r ON r.oid = i.indrelid JOIN pg_class ic ON ic.oid = i.indexrelid),
 'sequences', (SELECT json_agg(json_build_object(
    'name', r.relname, 'type', format_type(s.seqtypid, NULL), 'start', s.seqstart::text,
    'increment', s.seqincrement::text, 'min', s.seqmin::text, 'max', s.seqmax::text,
    'cache', s.seqcache::text, 'cycle', s.seqcycle,
    'owned_by', (SELECT o.relname || '.' || a.attname FROM pg_depend d
                 JOIN pg_class o ON o.oid = d.refobjid
                 JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
                 WHERE d.classid = 'pg_class'::regclass AND d.objid = r.oid
                   AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
                 LIMIT 1),
    'comment', {rel_comment}, 'grants', {seq_grants}, 'revokes', {seq_revokes}
  ) ORDER BY r.relname) FROM rels r JOIN pg_sequence s ON s.seqrelid = r.oid),
 'functions', (SELECT json_agg(json_build_object(
    'name', p.proname, 'arguments', pg_get_function_identity_arguments(p.oid),
    'kind', p.prokind, 'returns', pg_get_function_result(p.oid),
    'definition', CASE WHEN p.prokind <> 'a' THEN pg_get_functiondef(p.oid) END,
    'comment', {proc_comment}, 'grants', {proc_grants}, 'revokes', {proc_revokes}
  ) ORDER BY p.proname, pg_get_function_identity_arguments(p.oid))
  FROM pg_proc p WHERE p.pronamespace = (SELECT oid FROM ns) AND {proc_not_member}),
 'triggers', (SELECT json_agg(json_build_object(
    'relation', r.relname, 'name', t.tgname, 'definition', pg_get_triggerdef(t.oid),
    'enabled', t.tgenabled, 'comment', {trg_comment}
  ) ORDER BY r.relname, t.tgname)
  FROM pg_trigger t JOIN rels r ON r.oid = t.tgrelid WHERE NOT t.tgisinternal),
 'types', (SELECT json_agg(json_build_object(
    'name', t.typname, 'typtype', t.typtype,
    'labels', (SELECT json_agg(e.enumlabel ORDER BY e.enumsortorder)
               FROM pg_enum e WHERE e.enumtypid = t.oid),
    'base', CASE WHEN t.typtype = 'd' THEN format_type(t.typbasetype, t.typtypmod) END,
    'not_null', t.typnotnull, 'default', t.typdefault,
    'checks', (SELECT json_agg(c.conname || ': ' || pg_get_constraintdef(c.oid)
                               ORDER BY c.conname)
               FROM pg_constraint c WHERE c.contypid = t.oid),
    'attributes', (SELECT json_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
                                   ORDER BY a.attnum)
                   FROM pg_attribute a WHERE a.attrelid = t.typrelid AND t.typrelid <> 0
                     AND a.attnum > 0 AND NOT a.attisdropped),
    'subtype', (SELECT format_type(g.rngsubtype, NULL) FROM pg_range g WHERE g.rngtypid = t.oid),
    'comment', {type_comment}, 'grants', {type_grants}, 'revokes', {type_revokes}
  ) ORDER BY t.typname)
  FROM pg_type t WHERE t.typnamespace = (SELECT oid FROM ns)
    AND t.typtype IN ('b', 'c', 'd', 'e', 'r')
    AND (t.typrelid = 0 OR (SELECT c.relkind FROM pg_class c WHERE c.oid = t.typrelid) = 'c')
    AND NOT EXISTS (SELECT 1 FROM pg_type a WHERE a.typarray = t.oid)
    AND {type_not_member}),
 'extensions', (SELECT json_agg(json_build_object(
    'name', e.extname, 'schema', n.nspname, 'version', e.extversion) ORDER BY e.extname)
  FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace),
 'policies', (SELECT json_agg(json_build_object(
    'relation', r.relname, 'name', p.polname, 'command', p.polcmd,
    'permissive', p.polpermissive,
    'roles', (SELECT json_agg(CASE WHEN x = 0 THEN 'public' ELSE pg_get_userbyid(x)::text END
                              ORDER BY 1) FROM unnest(p.polroles) x),
    'using', pg_get_expr(p.polqual, p.polrelid), 'check', pg_get_expr(p.polwithcheck, p.polrelid),
    'comment', {pol_comment}
  ) ORDER BY r.relname, p.polname) FROM pg_policy p JOIN rels r ON r.oid = p.polrelid),
 'rules', (SELECT json_agg(json_build_object(
    'relation', r.relname, 'name', w.rulename, 'definition', pg_get_ruledef(w.oid),
    'comment', {rule_comment}
  ) ORDER BY r.relname, w.rulename)
  FROM pg_rewrite w JOIN rels r ON r.oid = w.ev_class WHERE w.rulename <> '_RETURN'),
 'schema_grants', (SELECT json_agg(x.e ORDER BY x.e) FROM (
    SELECT DISTINCT {schema_entry} AS e
    FROM pg_namespace n, aclexplode(n.nspacl) a
    WHERE n.oid = (SELECT oid FROM ns) AND a.grantee NOT IN (0, n.nspowner)) x),
 'default_privileges', (SELECT json_agg(json_build_object(
    'role', CASE WHEN da.defaclrole = (SELECT oid FROM pg_roles WHERE rolname = current_user)
                 THEN '(migrator)' ELSE pg_get_userbyid(da.defaclrole)::text END,
    'schema', (SELECT nspname FROM pg_namespace WHERE oid = da.defaclnamespace),
    'objects', da.defaclobjtype,
    'entries', (SELECT json_agg(x.e ORDER BY x.e) FROM (
                  SELECT {default_entry} AS e FROM aclexplode(da.defaclacl) a
                  EXCEPT SELECT {default_entry} FROM aclexplode({builtin}) a
                  WHERE da.defaclnamespace = 0) x),
    'revoked', (SELECT json_agg(x.e ORDER BY x.e) FROM (
                  SELECT {default_entry} AS e FROM aclexplode({builtin}) a
                  WHERE da.defaclnamespace = 0
                  EXCEPT SELECT {default_entry} FROM aclexplode(da.defaclacl) a) x)
  ) ORDER BY da.defaclrole, da.defaclnamespace, da.defaclobjtype)
  FROM pg_default_acl da WHERE da.defaclnamespace IN (0, (SELECT oid FROM ns))),
 'statistics', (SELECT json_agg(json_build_object(
    'name', s.stxname, 'definition', pg_get_statisticsobjdef(s.oid)) ORDER BY s.stxname)
  FROM pg_statistic_ext s WHERE s.stxnamespace = (SELECT oid FROM ns)),
 'others', (SELECT json_agg(json_build_object('kind', o.kind, 'name', o.name)
                            ORDER BY o.kind, o.name) FROM (
    SELECT 'operator' AS kind, oid::regoperator::text AS name, oid, 'pg_operator' AS cat
      FROM pg_operator WHERE oprnamespace = (SELECT oid FROM ns)
    UNION ALL SELECT 'collation', collname, oid, 'pg_collation'
      FROM pg_collation WHERE collnamespace = (SELECT oid FROM ns)
    UNION ALL SELECT 'conversion', conname, oid, 'pg_conversion'
      FROM pg_conversion WHERE connamespace = (SELECT oid FROM ns)
    UNION ALL SELECT 'operator class', opcname, oid, 'pg_opclass'
      FROM pg_opclass WHERE opcnamespace = (SELECT oid FROM ns)
    UNION ALL SELECT 'operator family', opfname, oid, 'pg_opfamily'
      FROM pg_opfamily WHERE opfnamespace = (SELECT oid FROM ns)
    UNION ALL SELECT 'text search configuration', cfgname, oid, 'pg_ts_config'
      FROM pg_ts_config WHERE cfgnamespace = (SELECT oid FROM ns)
    UNION ALL SELECT 'text search dictionary', dictname, oid, 'pg_ts_dict'
      FROM pg_ts_dict WHERE dictnamespace = (SELECT oid FROM ns)
    UNION ALL SELECT 'event trigger', evtname, oid, 'pg_event_trigger' FROM pg_event_trigger
  ) o WHERE NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = o.cat::regclass
                          AND d.objid = o.oid AND d.deptype = 'e'))
)
"""


def _comment(cat: str, oid: str) -> sql.SQL:
    return sql.SQL(_COMMENT.format(cat=cat, oid=oid))


def _acl(acl: str, kind: str, owner: str, *, revoked: bool = False) -> sql.SQL:
    """Privileges granted beyond the object kind's default (or, ``revoked``, default ones
    taken away), owner-relative: the owner is ``(owner)``, whoever owns the object."""
    entry = _ENTRY.format(owner=owner)
    effective = f"aclexplode(coalesce({acl}, acldefault('{kind}', {owner})))"
    default = f"aclexplode(acldefault('{kind}', {owner}))"
    first, second = (default, effective) if revoked else (effective, default)
    # A NULL ACL is the default: nothing to explode (most objects; keeps the read cheap).
    return sql.SQL(
        f"CASE WHEN {acl} IS NOT NULL THEN (SELECT json_agg(x.e ORDER BY x.e) FROM ("
        f"SELECT {entry} AS e FROM {first} a EXCEPT SELECT {entry} FROM {second} a) x) END"
    )


def catalog_query(schema: str = INDEXER_SCHEMA) -> sql.Composed:
    """The one SELECT that returns the schema as a JSON document."""
    return sql.SQL(_QUERY).format(
        schema=sql.Literal(schema),
        rel_not_member=sql.SQL(_NOT_EXTENSION_MEMBER.format(cat="pg_class", oid="c.oid")),
        proc_not_member=sql.SQL(_NOT_EXTENSION_MEMBER.format(cat="pg_proc", oid="p.oid")),
        type_not_member=sql.SQL(_NOT_EXTENSION_MEMBER.format(cat="pg_type", oid="t.oid")),
        rel_comment=_comment("pg_class", "r.oid"),
        rel_grants=_acl("r.relacl", "r", "r.relowner"),
        rel_revokes=_acl("r.relacl", "r", "r.relowner", revoked=True),
        seq_grants=_acl("r.relacl", "s", "r.relowner"),
        seq_revokes=_acl("r.relacl", "s", "r.relowner", revoked=True),
        col_grants=_acl("a.attacl", "c", "r.relowner"),
        con_comment=_comment("pg_constraint", "c.oid"),
        idx_comment=_comment("pg_class", "ic.oid"),
        proc_comment=_comment("pg_proc", "p.oid"),
        proc_grants=_acl("p.proacl", "f", "p.proowner"),
        proc_revokes=_acl("p.proacl", "f", "p.proowner", revoked=True),
        trg_comment=_comment("pg_trigger", "t.oid"),
        type_comment=_comment("pg_type", "t.oid"),
        type_grants=_acl("t.typacl", "T", "t.typowner"),
        type_revokes=_acl("t.typacl", "T", "t.typowner", revoked=True),
        pol_comment=_comment("pg_policy", "p.oid"),
        rule_comment=_comment("pg_rewrite", "w.oid"),
        schema_entry=sql.SQL(_ENTRY.format(owner="n.nspowner")),
        default_entry=sql.SQL(_ENTRY.format(owner="da.defaclrole")),
        # A database-wide entry replaces the built-in default (compared with it); one for a
        # schema adds to it (its entries are all grants).
        builtin=sql.SQL(
            "acldefault(CASE da.defaclobjtype WHEN 'S' THEN 's' ELSE da.defaclobjtype END, "
            "da.defaclrole)"
        ),
    )


def read_catalog(
    conn: Connection, schema: str = INDEXER_SCHEMA, *, lock_timeout_s: float = LOCK_TIMEOUT_S
) -> dict[str, Any]:
    """The raw catalog document of ``schema`` (lists of rows by kind). Changes nothing.

    One message, one round trip: the settings, the query, and the end of the read. On an idle
    connection the read is its own read-only transaction; inside the caller's transaction it
    runs in a savepoint that is rolled back, so the caller's settings are left as they were.
    A table held by DDL of another session is waited for ``lock_timeout_s`` at most; then
    :class:`~bazooka.errors.PostgresError` names the table and the session holding it.
    """
    settings = sql.SQL(_SETTINGS).format(
        schema=sql.Identifier(schema), lock_timeout=sql.Literal(f"{int(lock_timeout_s * 1000)}ms")
    )
    query = catalog_query(schema)
    # Without autocommit, psycopg itself opens a transaction first: read inside it, then.
    idle = conn.autocommit and conn.info.transaction_status == pq.TransactionStatus.IDLE
    if idle:
        begin = sql.SQL("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;")
        end = sql.SQL("COMMIT;")
    else:
        begin = sql.SQL("SAVEPOINT bazooka_catalog;")
        end = sql.SQL("ROLLBACK TO SAVEPOINT bazooka_catalog; RELEASE SAVEPOINT bazooka_catalog;")
    script = sql.SQL(" ").join([begin, settings, query, sql.SQL(";"), end])
    try:
        cur = conn.execute(script.as_bytes(conn))
        while cur.description is None:  # BEGIN and the SETs come first
            if not cur.nextset():
                raise RuntimeError("the catalog query returned no row")
        row = cur.fetchone()
    except BaseException as exc:
        if idle and conn.info.transaction_status != pq.TransactionStatus.IDLE:
            conn.execute("ROLLBACK")
        if isinstance(exc, psycopg.errors.LockNotAvailable) and idle:
            raise _held(conn, schema, lock_timeout_s) from exc
        raise
    if row is None or not isinstance(row[0], dict):
        raise RuntimeError("the catalog query returned no document")
    document: dict[str, Any] = row[0]
    return document


def _held(conn: Connection, schema: str, waited_s: float) -> PostgresError:
    """The error for a read that waited too long: which tables, held by which sessions."""
    try:
        holders = exclusive_holders(conn, schema)
    except psycopg.Error:
        holders = []
    who = "; ".join(f"table {table} is held by {session.describe()}" for table, session in holders)
    return PostgresError(
        f"Cannot read the schema: waited {waited_s:g} s for a table of schema {schema} locked "
        f"in ACCESS EXCLUSIVE mode by another session ("
        + (who or "it was released just after the wait: run again")
        + "). A migration or other DDL is running there: let it finish, then run again."
    )
