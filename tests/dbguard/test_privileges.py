"""Privilege drift (DB-1): the pure diff, and snapshots of a real private cluster."""

from __future__ import annotations

from collections.abc import Iterator

import orjson
import pytest
from typer.testing import CliRunner

from mamori import audit
from mamori.cli.dbguard_priv import app
from mamori.dbguard.errors import DbGuardError
from mamori.dbguard.privileges import (
    APPROVED_ACTION,
    DRIFT_ACTION,
    approve,
    baselines,
    check,
    load_baseline,
    mask_conninfo,
    snapshot,
)
from mamori.dbguard.privmodel import (
    DefaultGrant,
    Drift,
    DriftKind,
    Grant,
    Membership,
    Role,
    Snapshot,
    diff,
)
from mamori.home import Home
from tests.dbguard.privcluster import Cluster, private_cluster


def snap(
    roles: set[Role] | None = None,
    memberships: set[Membership] | None = None,
    grants: set[Grant] | None = None,
    defaults: set[DefaultGrant] | None = None,
) -> Snapshot:
    return Snapshot(
        target="shop@db.internal:5432",
        server_version="15.20",
        taken_at="2026-11-27T00:00:00Z",
        roles=frozenset(roles or {Role("app", frozenset({"LOGIN", "INHERIT"}))}),
        memberships=frozenset(memberships or set()),
        grants=frozenset(grants or set()),
        default_grants=frozenset(defaults or set()),
    )


APP = Role("app", frozenset({"LOGIN", "INHERIT"}))
SELECT_T = Grant("table", "public.t", "app", "SELECT", "owner")


# --- pure --------------------------------------------------------------------------------------


def test_no_drift_between_equal_snapshots() -> None:
    assert diff(snap(grants={SELECT_T}), snap(grants={SELECT_T})) == []


def test_every_kind_of_drift() -> None:
    base = snap(
        roles={APP, Role("old", frozenset()), Role("ops", frozenset({"CREATEDB"}))},
        memberships={Membership("readers", "app", "owner")},
        grants={SELECT_T},
        defaults={DefaultGrant("owner", "", "tables", "app", "SELECT", "owner")},
    )
    now = snap(
        roles={
            Role("app", frozenset({"LOGIN", "INHERIT", "SUPERUSER"})),
            Role("new", frozenset({"LOGIN"})),
            Role("ops", frozenset()),
        },
        memberships={Membership("admins", "app", "owner", frozenset({"ADMIN"}))},
        grants={Grant("table", "public.t", "app", "SELECT", "owner", grantable=True)},
        defaults={DefaultGrant("owner", "app", "tables", "app", "INSERT", "owner")},
    )
    drifts = diff(base, now)
    assert [(d.kind, d.role, d.object, d.privilege, d.grantor) for d in drifts] == [
        (DriftKind.ROLE_ADDED, "new", "role new", "LOGIN", ""),
        (DriftKind.ROLE_REMOVED, "old", "role old", "", ""),
        (DriftKind.ATTRIBUTE_ON, "app", "role app", "SUPERUSER", ""),
        (DriftKind.ATTRIBUTE_OFF, "ops", "role ops", "CREATEDB", ""),
        (DriftKind.MEMBERSHIP_ADDED, "app", "role admins", "MEMBER WITH ADMIN OPTION", "owner"),
        (DriftKind.MEMBERSHIP_REMOVED, "app", "role readers", "MEMBER", "owner"),
        (DriftKind.PRIVILEGE_GRANTED, "app", "table public.t", "SELECT WITH GRANT OPTION", "owner"),
        (DriftKind.PRIVILEGE_REVOKED, "app", "table public.t", "SELECT", "owner"),
        (DriftKind.DEFAULT_GRANTED, "app", "new tables of owner in schema app", "INSERT", "owner"),
        (DriftKind.DEFAULT_REVOKED, "app", "new tables of owner", "SELECT", "owner"),
    ]
    assert drifts[2].sentence == "role app was given SUPERUSER"
    assert "granted by owner" in drifts[4].sentence


def test_every_drift_kind_has_a_direction_and_a_sentence() -> None:
    for kind in DriftKind:
        d = Drift(kind, "r", "table public.t", "SELECT", "g")
        assert isinstance(kind.widens, bool) and d.sentence
        assert d.to_json()["kind"] == kind.value


def test_snapshot_json_round_trip_and_stable_digest() -> None:
    s = snap(
        memberships={Membership("readers", "app", "owner", frozenset({"ADMIN", "SET"}))},
        grants={SELECT_T, Grant("column", "public.t.pw", "PUBLIC", "SELECT", "owner")},
        defaults={DefaultGrant("owner", "", "tables", "app", "SELECT", "owner")},
    )
    again = Snapshot.from_json(orjson.loads(s.to_bytes()))
    assert again == s and again.digest == s.digest
    later = Snapshot(
        "other@host:1",
        "16.1",
        "2027-01-01T00:00:00Z",
        s.roles,
        s.memberships,
        s.grants,
        s.default_grants,
    )
    assert later.digest == s.digest  # the digest is the privileges, not where or when
    assert s.digest.startswith("sha256:") and len(s.digest) == 71


def test_a_tampered_snapshot_is_refused() -> None:
    doc = orjson.loads(snap(grants={SELECT_T}).to_bytes())
    doc["grants"][0]["grantee"] = "mallory"
    with pytest.raises(DbGuardError, match="digest"):
        Snapshot.from_json(doc)
    with pytest.raises(DbGuardError, match="not a privilege snapshot"):
        Snapshot.from_json({"format": 1})


def test_passwords_are_masked() -> None:
    assert mask_conninfo("host=db password=s3cr3t user=x") == "host=db password=*** user=x"
    assert mask_conninfo("password = 'a b\\'c' host=db") == "password = *** host=db"
    assert mask_conninfo("postgresql://alice:s3cr3t@db/shop") == "postgresql://alice:***@db/shop"


def test_check_records_each_drift_once(home: Home) -> None:
    base = snap(grants={SELECT_T})
    approve(home, base, "tester")
    now = snap(grants={SELECT_T, Grant("table", "public.t", "app", "DELETE", "owner")})
    first = check(home, "", take=lambda _: now)
    assert [d.kind for d in first.recorded] == [DriftKind.PRIVILEGE_GRANTED]
    again = check(home, "", take=lambda _: now)
    assert again.drifts == first.drifts and again.recorded == []
    docs = [orjson.loads(e) for _, e in audit.pending(home, 0, 100)]
    assert [d["event"]["action"] for d in docs] == [APPROVED_ACTION, DRIFT_ACTION]
    approved, drift = docs
    assert approved["mamori"]["audit"]["digest"] == base.digest
    assert drift["event"]["outcome"] == "failure"
    fields = drift["mamori"]["audit"]
    assert {k: fields[k] for k in ("kind", "role", "object", "privilege", "grantor")} == {
        "kind": "privilege_granted",
        "role": "app",
        "object": "table public.t",
        "privilege": "DELETE",
        "grantor": "owner",
    }
    # Gone, then back: recorded again.
    assert check(home, "", take=lambda _: base).recorded == []
    assert len(check(home, "", take=lambda _: now).recorded) == 1


def test_no_baseline_says_what_to_do(home: Home) -> None:
    with pytest.raises(DbGuardError, match="approve"):
        load_baseline(home, "shop@db:5432")
    assert baselines(home) == []


def test_baseline_files_are_private(home: Home) -> None:
    b = approve(home, snap(), "tester")
    assert b.path.stat().st_mode & 0o777 == 0o600
    assert b.path.parent.stat().st_mode & 0o777 == 0o700
    assert [x.snapshot.digest for x in baselines(home)] == [snap().digest]


# --- a real server --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    with private_cluster() as c:
        c.sql(
            "CREATE ROLE app LOGIN",
            "CREATE ROLE readers",
            "CREATE TABLE orders(id int, card text)",
            "CREATE SCHEMA reports",
        )
        yield c


def test_drift_on_a_real_server(cluster: Cluster, home: Home) -> None:
    dsn = cluster.conninfo()
    base = snapshot(dsn)
    assert base.target.startswith("postgres@") and base.server_version.startswith("15")
    assert {"super", "app", "readers"} <= {r.name for r in base.roles}
    approve(home, base, "tester")
    assert diff(base, snapshot(dsn)) == []  # nothing changed: no drift
    cluster.sql(
        "GRANT SELECT ON orders TO app",
        "ALTER ROLE app SUPERUSER",
        "GRANT readers TO app",
        "ALTER DEFAULT PRIVILEGES IN SCHEMA reports GRANT SELECT ON TABLES TO readers",
        "GRANT UPDATE (card) ON orders TO readers",
        "GRANT EXECUTE ON FUNCTION pg_catalog.pg_read_file(text) TO readers",
    )
    result = check(home, dsn)
    found = {(d.kind, d.role, d.object, d.privilege, d.grantor) for d in result.drifts}
    assert found == {
        (DriftKind.PRIVILEGE_GRANTED, "app", "table public.orders", "SELECT", "super"),
        (DriftKind.ATTRIBUTE_ON, "app", "role app", "SUPERUSER", ""),
        (DriftKind.MEMBERSHIP_ADDED, "app", "role readers", "MEMBER", "super"),
        (
            DriftKind.DEFAULT_GRANTED,
            "readers",
            "new tables of super in schema reports",
            "SELECT",
            "super",
        ),
        (DriftKind.PRIVILEGE_GRANTED, "readers", "column public.orders.card", "UPDATE", "super"),
        (DriftKind.PRIVILEGE_GRANTED, "readers", "function pg_read_file(text)", "EXECUTE", "super"),
    }
    assert len(result.recorded) == 6
    # Approving makes it clean; revoking shows as drift the other way.
    approve(home, snapshot(dsn), "tester")
    assert check(home, dsn).drifts == []
    cluster.sql(
        "REVOKE SELECT ON orders FROM app",
        "ALTER ROLE app NOSUPERUSER",
        "REVOKE readers FROM app",
        "ALTER DEFAULT PRIVILEGES IN SCHEMA reports REVOKE SELECT ON TABLES FROM readers",
        "REVOKE UPDATE (card) ON orders FROM readers",
        "REVOKE EXECUTE ON FUNCTION pg_catalog.pg_read_file(text) FROM readers",
    )
    kinds = sorted(d.kind.value for d in check(home, dsn).drifts)
    assert kinds == sorted(
        [
            "privilege_revoked",
            "attribute_off",
            "membership_removed",
            "default_revoked",
            "privilege_revoked",
            "privilege_revoked",
        ]
    )


def test_unreachable_server_never_shows_the_password(cluster: Cluster) -> None:
    dsn = "host=127.0.0.1 port=1 user=app dbname=x password=pa55word-xyz connect_timeout=2"
    with pytest.raises(DbGuardError) as info:
        snapshot(dsn)
    text = info.value.diagnostics()
    assert "pa55word-xyz" not in text and "app@127.0.0.1:1/x" in text
    with pytest.raises(DbGuardError) as info:
        snapshot("postgresql://app:pa55word-xyz@127.0.0.1:1/x?connect_timeout=2")
    assert "pa55word-xyz" not in info.value.diagnostics()


# --- the CLI ------------------------------------------------------------------------------------------


def test_cli(cluster: Cluster, home: Home) -> None:
    runner = CliRunner()
    # The password is accepted (trust authentication ignores it) and never printed.
    dsn = cluster.conninfo("super", "postgres") + " password=pa55word-xyz"
    h = ["--home", str(home.root)]

    r = runner.invoke(app, ["snapshot", "--dsn", dsn])
    assert r.exit_code == 0, r.output
    assert "digest: sha256:" in r.output and "superusers: super" in r.output
    r = runner.invoke(app, ["snapshot", "--dsn", dsn, "--json"])
    assert r.exit_code == 0 and orjson.loads(r.output)["format"] == 1

    r = runner.invoke(app, ["diff", *h, "--dsn", dsn])
    assert r.exit_code == 2 and "approve" in r.output

    r = runner.invoke(app, ["approve", *h, "--dsn", dsn, "--actor", "alice"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["diff", *h, "--dsn", dsn])
    assert r.exit_code == 0 and "no drift" in r.output

    cluster.sql("GRANT SELECT ON orders TO PUBLIC")
    try:
        r = runner.invoke(app, ["diff", *h, "--dsn", dsn])
        assert r.exit_code == 1
        assert (
            "+ SELECT on table public.orders was granted to PUBLIC (granted by super)" in r.output
        )
        r = runner.invoke(app, ["diff", *h, "--dsn", dsn, "--json"])
        assert r.exit_code == 1
        assert [d["kind"] for d in orjson.loads(r.output)["drift"]] == ["privilege_granted"]
    finally:
        cluster.sql("REVOKE SELECT ON orders FROM PUBLIC")

    r = runner.invoke(app, ["show", *h])
    assert r.exit_code == 0 and "approved" in r.output and "by alice" in r.output
    r = runner.invoke(app, ["show", *h, "--json"])
    assert orjson.loads(r.output)[0]["actor"] == "alice"

    r = runner.invoke(app, ["snapshot", "--dsn", "host=127.0.0.1 port=1 password=pa55word-xyz"])
    assert r.exit_code == 2
    for result in (r,):
        assert "pa55word-xyz" not in result.output


def test_cli_uses_libpq_environment(cluster: Cluster, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGHOST", str(cluster.socket_dir))
    monkeypatch.setenv("PGPORT", str(cluster.port))
    monkeypatch.setenv("PGUSER", "super")
    monkeypatch.setenv("PGDATABASE", "postgres")
    r = CliRunner().invoke(app, ["snapshot"])
    assert r.exit_code == 0, r.output
    assert r.output.startswith("postgres@")
