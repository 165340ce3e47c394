"""`mamori tokens …` and `mamori devices …`, run as a user runs them."""

from __future__ import annotations

import hashlib
from pathlib import Path

import orjson

from mamori import audit
from mamori.access import TokenVerifier, cert_fingerprint
from mamori.home import Home
from tests.access.certs import make_cert
from tests.conftest import run


def actions(home: Home) -> list[dict[str, object]]:
    return [orjson.loads(ev) for _, ev in audit.pending(home, 0, 100)]


def test_token_lifecycle(home: Home) -> None:
    h = ["--home", str(home.root)]
    added = run(["tokens", "add", "web-01", "--scope", "ingest", *h])
    assert added.returncode == 0, added.stderr
    token = added.stdout.decode().strip()
    assert added.stdout.decode() == token + "\n"  # the token and nothing else on stdout
    assert token.startswith("mamori_")
    assert b"not shown again" in added.stderr and token.encode() not in added.stderr
    verifier = TokenVerifier(home, interval=0)
    assert verifier.verify(token, "ingest") is not None

    listed = run(["tokens", "list", *h])
    assert listed.returncode == 0
    assert b"web-01" in listed.stdout and b"ingest" in listed.stdout
    as_json = run(["tokens", "list", "--json", *h])
    (doc,) = orjson.loads(as_json.stdout)
    assert doc["name"] == "web-01" and doc["scope"] == "ingest" and doc["revoked_at"] is None
    secret_forms = (token.encode(), hashlib.sha256(token.encode()).hexdigest().encode())
    for out in (listed.stdout + listed.stderr, as_json.stdout + as_json.stderr):
        assert not any(s in out for s in secret_forms)

    revoked = run(["tokens", "revoke", "web-01", *h])
    assert revoked.returncode == 0, revoked.stderr
    assert b"revoked token web-01" in revoked.stdout
    assert verifier.verify(token, "ingest") is None
    verifier.close()

    events = actions(home)
    assert [e["event"]["action"] for e in events] == ["token.created", "token.revoked"]  # type: ignore[index]
    created, revoked_event = events
    assert revoked_event["mamori"] == {"audit": {"name": "web-01", "scope": "ingest"}}
    fields = created["mamori"]["audit"]  # type: ignore[index]
    assert {k: fields[k] for k in ("name", "scope", "expires_days", "never_expires")} == {
        "name": "web-01",
        "scope": "ingest",
        "expires_days": 90,  # the lifetime is on record: a rule flags long-lived tokens
        "never_expires": False,
    }
    assert fields["expires"].endswith("Z")
    raw = b"".join(ev for _, ev in audit.pending(home, 0, 100))
    assert not any(s in raw for s in secret_forms)


def test_token_errors_exit_2_with_a_fix(home: Home) -> None:
    h = ["--home", str(home.root)]
    bad_scope = run(["tokens", "add", "x", "--scope", "admin", *h])
    assert bad_scope.returncode == 2
    assert b"'admin' is not a token scope" in bad_scope.stderr and b"fix:" in bad_scope.stderr
    assert bad_scope.stdout == b""
    assert run(["tokens", "add", "x", "--scope", "metrics", *h]).returncode == 0
    dup = run(["tokens", "add", "x", "--scope", "metrics", *h])
    assert dup.returncode == 2 and b"already exists" in dup.stderr and dup.stdout == b""
    unknown = run(["tokens", "revoke", "nobody", *h])
    assert unknown.returncode == 2 and b"no token named 'nobody'" in unknown.stderr
    no_home = run(["tokens", "list"])
    assert no_home.returncode == 2 and b"no home directory given" in no_home.stderr
    # Only the one successful change was audited.
    assert [e["event"]["action"] for e in actions(home)] == ["token.created"]  # type: ignore[index]


def test_empty_lists(home: Home) -> None:
    h = ["--home", str(home.root)]
    for what in ("tokens", "devices"):
        text = run([what, "list", *h])
        assert text.returncode == 0 and text.stdout == b"" and b"no " in text.stderr
        assert orjson.loads(run([what, "list", "--json", *h]).stdout) == []


def test_device_lifecycle(home: Home, tmp_path: Path) -> None:
    h = ["--home", str(home.root)]
    pair = make_cert("sensor")
    pem = tmp_path / "sensor.pem"
    pem.write_bytes(pair.cert_pem)
    fp = cert_fingerprint(pair.der)
    added = run(["devices", "add", "sensor", "--cert", str(pem), "--address", "10.0.0.0/8", *h])
    assert added.returncode == 0, added.stderr
    assert fp.encode() in added.stdout and b"10.0.0.0/8" in added.stdout
    by_addr = run(["devices", "add", "fw", "--address", "192.0.2.1", *h])
    assert by_addr.returncode == 0, by_addr.stderr
    by_fp = run(["devices", "add", "other", "--fingerprint", "AB" * 32, *h])
    assert by_fp.returncode == 0, by_fp.stderr

    listed = orjson.loads(run(["devices", "list", "--json", *h]).stdout)
    assert [(d["name"], d["address"], d["fingerprint"], d["certificate"]) for d in listed] == [
        ("fw", "192.0.2.1", None, False),
        ("other", None, "ab" * 32, False),
        ("sensor", "10.0.0.0/8", fp, True),
    ]
    table = run(["devices", "list", *h]).stdout.decode()
    assert "sensor" in table and fp in table

    assert run(["devices", "revoke", "fw", *h]).returncode == 0
    listed = orjson.loads(run(["devices", "list", "--json", *h]).stdout)
    assert [d["revoked_at"] is not None for d in listed] == [True, False, False]

    events = actions(home)
    assert [e["event"]["action"] for e in events] == [  # type: ignore[index]
        "device.added",
        "device.added",
        "device.added",
        "device.revoked",
    ]
    assert events[0]["mamori"] == {
        "audit": {"name": "sensor", "address": "10.0.0.0/8", "fingerprint": fp}
    }
    assert events[3]["mamori"] == {
        "audit": {"name": "fw", "address": "192.0.2.1", "fingerprint": None}
    }


def test_device_errors_exit_2_with_a_fix(home: Home, tmp_path: Path) -> None:
    h = ["--home", str(home.root)]
    nothing = run(["devices", "add", "d", *h])
    assert nothing.returncode == 2 and b"needs an address" in nothing.stderr
    assert b"fix:" in nothing.stderr
    bad_cidr = run(["devices", "add", "d", "--address", "10.0.0.1/8", *h])
    assert bad_cidr.returncode == 2 and b"10.0.0.0/8" in bad_cidr.stderr
    missing = run(["devices", "add", "d", "--cert", str(tmp_path / "none.pem"), *h])
    assert missing.returncode == 2 and b"cannot read the certificate" in missing.stderr
    junk = tmp_path / "junk.pem"
    junk.write_bytes(b"hello")
    not_pem = run(["devices", "add", "d", "--cert", str(junk), *h])
    assert not_pem.returncode == 2 and b"not a PEM certificate" in not_pem.stderr
    unknown = run(["devices", "revoke", "d", *h])
    assert unknown.returncode == 2 and b"no device named 'd'" in unknown.stderr
    assert actions(home) == []
