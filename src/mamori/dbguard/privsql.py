"""The catalogue queries behind a privilege snapshot (DB-1).

Read-only queries over ``pg_catalog`` that any role can run (``pg_roles``, not ``pg_authid``).
ACLs are expanded with ``aclexplode``; an object whose ACL is NULL has its built-in defaults
(``acldefault``: the owner's privileges, and PUBLIC's where PostgreSQL gives them), so the
first ``GRANT`` on an object shows as that grant alone. Objects of the system schemas
(``pg_catalog``, ``information_schema``) count only when their ACL was changed (not NULL):
their defaults are the same on every server. Large objects and types count only with an
explicit ACL (there may be millions of large objects).
See https://www.postgresql.org/docs/15/ddl-priv.html (Table 5.2: ACL privilege
abbreviations) and §9.26 (``aclexplode``, ``acldefault``).
"""

from __future__ import annotations

from typing import Final

ROLES: Final = """
SELECT rolname, rolsuper, rolcreaterole, rolcreatedb, rolbypassrls, rolreplication,
       rolcanlogin, rolinherit
FROM pg_catalog.pg_roles
"""


def memberships(server_version: int) -> str:
    """``pg_auth_members`` with grantor and options (``inherit``/``set`` since PostgreSQL 16)."""
    extra = (
        "am.inherit_option, am.set_option"
        if server_version >= 160000
        else "false AS inherit_option, false AS set_option"
    )
    return f"""
SELECT r.rolname, m.rolname, coalesce(g.rolname, '#' || am.grantor::text), am.admin_option,
       {extra}
FROM pg_catalog.pg_auth_members am
JOIN pg_catalog.pg_roles r ON r.oid = am.roleid
JOIN pg_catalog.pg_roles m ON m.oid = am.member
LEFT JOIN pg_catalog.pg_roles g ON g.oid = am.grantor
"""  # noqa: S608 - a fixed choice of columns, no input


_SYSTEM = "n.nspname IN ('pg_catalog', 'information_schema')"
_NOT_TEMP = "n.nspname !~ '^pg_(toast|temp_|toast_temp_)'"


def grants(server_version: int) -> str:
    """Every object privilege: (object type, object, grantee, privilege, grantor, grantable)."""
    parameters = (
        """
  UNION ALL
  SELECT 'parameter', parname, paracl FROM pg_catalog.pg_parameter_acl
  WHERE paracl IS NOT NULL"""
        if server_version >= 150000
        else ""
    )
    return f"""
WITH acl(kind, name, acl) AS (
  SELECT CASE c.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'table' WHEN 'v' THEN 'view'
                        WHEN 'm' THEN 'materialized view' WHEN 'S' THEN 'sequence'
                        ELSE 'foreign table' END,
         pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(c.relname),
         CASE WHEN {_SYSTEM} THEN c.relacl
              ELSE coalesce(c.relacl, pg_catalog.acldefault(
                     (CASE WHEN c.relkind = 'S' THEN 's' ELSE 'r' END)::"char", c.relowner))
         END
  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') AND {_NOT_TEMP}
  UNION ALL
  SELECT 'column',
         pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(c.relname) || '.'
           || pg_catalog.quote_ident(a.attname),
         a.attacl
  FROM pg_catalog.pg_attribute a
  JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  WHERE a.attacl IS NOT NULL AND NOT a.attisdropped AND {_NOT_TEMP}
  UNION ALL
  SELECT 'schema', pg_catalog.quote_ident(n.nspname),
         coalesce(n.nspacl, pg_catalog.acldefault('n', n.nspowner))
  FROM pg_catalog.pg_namespace n WHERE {_NOT_TEMP}
  UNION ALL
  SELECT CASE p.prokind WHEN 'p' THEN 'procedure' ELSE 'function' END,
         p.oid::pg_catalog.regprocedure::text,
         CASE WHEN {_SYSTEM} THEN p.proacl
              ELSE coalesce(p.proacl, pg_catalog.acldefault('f', p.proowner)) END
  FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
  WHERE {_NOT_TEMP}
  UNION ALL
  SELECT 'database', pg_catalog.quote_ident(datname),
         coalesce(datacl, pg_catalog.acldefault('d', datdba))
  FROM pg_catalog.pg_database
  UNION ALL
  SELECT 'language', pg_catalog.quote_ident(lanname),
         coalesce(lanacl, pg_catalog.acldefault('l', lanowner))
  FROM pg_catalog.pg_language
  UNION ALL
  SELECT 'tablespace', pg_catalog.quote_ident(spcname),
         coalesce(spcacl, pg_catalog.acldefault('t', spcowner))
  FROM pg_catalog.pg_tablespace
  UNION ALL
  SELECT 'foreign data wrapper', pg_catalog.quote_ident(fdwname),
         coalesce(fdwacl, pg_catalog.acldefault('F', fdwowner))
  FROM pg_catalog.pg_foreign_data_wrapper
  UNION ALL
  SELECT 'foreign server', pg_catalog.quote_ident(srvname),
         coalesce(srvacl, pg_catalog.acldefault('S', srvowner))
  FROM pg_catalog.pg_foreign_server
  UNION ALL
  SELECT 'type', t.oid::pg_catalog.regtype::text, t.typacl
  FROM pg_catalog.pg_type t WHERE t.typacl IS NOT NULL
  UNION ALL
  SELECT 'large object', oid::text, lomacl
  FROM pg_catalog.pg_largeobject_metadata WHERE lomacl IS NOT NULL{parameters}
)
SELECT acl.kind, acl.name,
       CASE WHEN x.grantee = 0 THEN 'PUBLIC'
            ELSE coalesce(e.rolname, '#' || x.grantee::text) END,
       x.privilege_type,
       coalesce(g.rolname, '#' || x.grantor::text),
       x.is_grantable
FROM acl CROSS JOIN LATERAL pg_catalog.aclexplode(acl.acl) x
LEFT JOIN pg_catalog.pg_roles e ON e.oid = x.grantee
LEFT JOIN pg_catalog.pg_roles g ON g.oid = x.grantor
"""  # noqa: S608 - fixed text, no input


# pg_default_acl rows hold the whole ACL new objects get; for the all-schemas entry that
# includes the built-in defaults, which are not a change and are left out.
DEFAULT_GRANTS: Final = """
SELECT r.rolname, coalesce(pg_catalog.quote_ident(n.nspname), ''),
       CASE d.defaclobjtype WHEN 'r' THEN 'tables' WHEN 'S' THEN 'sequences'
            WHEN 'f' THEN 'functions' WHEN 'T' THEN 'types' WHEN 'n' THEN 'schemas'
            ELSE d.defaclobjtype::text END,
       CASE WHEN x.grantee = 0 THEN 'PUBLIC'
            ELSE coalesce(e.rolname, '#' || x.grantee::text) END,
       x.privilege_type,
       coalesce(g.rolname, '#' || x.grantor::text),
       x.is_grantable
FROM pg_catalog.pg_default_acl d
JOIN pg_catalog.pg_roles r ON r.oid = d.defaclrole
LEFT JOIN pg_catalog.pg_namespace n ON n.oid = d.defaclnamespace
CROSS JOIN LATERAL pg_catalog.aclexplode(d.defaclacl) x
LEFT JOIN pg_catalog.pg_roles e ON e.oid = x.grantee
LEFT JOIN pg_catalog.pg_roles g ON g.oid = x.grantor
WHERE d.defaclnamespace <> 0 OR NOT EXISTS (
  SELECT 1 FROM pg_catalog.aclexplode(pg_catalog.acldefault(
      (CASE WHEN d.defaclobjtype = 'S' THEN 's' ELSE d.defaclobjtype END)::"char",
      d.defaclrole)) b
  WHERE b.grantee = x.grantee AND b.grantor = x.grantor
    AND b.privilege_type = x.privilege_type AND b.is_grantable = x.is_grantable)
"""
