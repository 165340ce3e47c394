"""`mamori init` and the home: modes, keys, refusal to overwrite, config errors."""

from __future__ import annotations

import stat
import tomllib
from pathlib import Path

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mamori.config import TEMPLATE, ConfigError, parse, render
from mamori.home import Home, HomeError, init
from mamori.ledger.note import Verifier
from tests.conftest import run


def mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def test_init_creates_a_private_home(tmp_path: Path) -> None:
    proc = run(["init", "--home", str(tmp_path / "h"), "--origin", "ex.example/mamori/1", "--json"])
    assert proc.returncode == 0, proc.stderr
    doc = orjson.loads(proc.stdout)
    h = Home(Path(doc["home"]))
    assert mode(h.root) == 0o700
    assert mode(h.key_path) == 0o600
    assert mode(h.config_path) == 0o600
    assert mode(h.ledger_dir) == 0o700
    v = Verifier.parse(h.pub_path.read_text().strip())
    assert v.name == "ex.example/mamori/1" == doc["origin"]
    assert h.pub_path.read_text().strip() == doc["public_key"]
    assert h.config().ledger.origin == "ex.example/mamori/1"


def test_init_refuses_to_overwrite(tmp_path: Path) -> None:
    target = tmp_path / "h"
    assert run(["init", "--home", str(target)]).returncode == 0
    key = (target / "ledger.key").read_bytes()
    again = run(["init", "--home", str(target)])
    assert again.returncode == 2
    assert b"initialised mamori home; refusing to overwrite" in again.stderr
    assert (target / "ledger.key").read_bytes() == key
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    proc = run(["init", "--home", str(other)])
    assert proc.returncode == 2 and b"not empty" in proc.stderr


def test_init_with_env_home(tmp_path: Path) -> None:
    proc = run(["init"], env={"MAMORI_HOME": str(tmp_path / "envhome")})
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "envhome" / "mamori.toml").exists()


def test_key_readable_by_others_is_refused(home: Home) -> None:
    home.key_path.chmod(0o644)
    proc = run(["ledger", "append", "--home", str(home.root)], input=b"{}\n")
    assert proc.returncode == 2
    assert b"readable by others" in proc.stderr and b"chmod 600" in proc.stderr


def test_template_documents_every_default() -> None:
    cfg = parse(tomllib.loads(render("o.example/x")))
    assert cfg.ledger.batch_max_events == 8192
    assert cfg.ledger.batch_max_delay_ms == 1000
    assert cfg.retention.days == 1825
    for key in (
        "origin",
        "batch_max_events",
        "batch_max_delay_ms",
        "max_event_bytes",
        "contract_end",
        "margin_days",
        "days",
        "legal_hold",
        "default_limit",
    ):
        assert f"\n{key} = " in TEMPLATE


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (("batch_max_events = 8192", "batch_max_events = 0"), "batch_max_events"),
        (("batch_max_events = 8192", 'batch_max_events = "many"'), "batch_max_events"),
        (("legal_hold = false", "legal_hold = 1"), "legal_hold"),
        # detection caches calendar verdicts per minute: hours are whole minutes
        (
            ('business_hours = ["09:00", "18:00"]', 'business_hours = ["09:00:30", "18:00"]'),
            "business_hours",
        ),
        (("denied_networks = []", 'denied_networks = ["10.0.0.0/33"]'), "denied_networks"),
        (('contract_end = ""', 'contract_end = "next year"'), "contract_end"),
        (("[search]", "[serch]"), "unknown section"),
        (("days = 1825", "days = 1825\ncolour = 1"), "unknown key"),
        (("[ledger]", "[ledger"), "not valid TOML"),
    ],
)
def test_config_errors_name_the_key(home: Home, edit: tuple[str, str], message: str) -> None:
    text = home.config_path.read_text()
    assert edit[0] in text
    home.config_path.write_text(text.replace(edit[0], edit[1], 1))
    proc = run(["ledger", "verify", "--home", str(home.root)])
    assert proc.returncode == 2
    assert message.encode() in proc.stderr


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["ledger", "retention", "search", "x"]),
        st.dictionaries(
            st.text(max_size=20), st.none() | st.integers() | st.text() | st.booleans(), max_size=4
        ),
        max_size=3,
    )
)
def test_config_parser_never_crashes(raw: dict[str, dict[str, object]]) -> None:
    clean = {k: {kk: vv for kk, vv in v.items() if vv is not None} for k, v in raw.items()}
    try:
        parse(clean)
    except ConfigError as e:
        assert e.message


def test_init_into_unwritable_parent(tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_text("x")
    proc = run(["init", "--home", str(target / "sub")])
    assert proc.returncode == 2
    assert b"cannot create" in proc.stderr
    with pytest.raises(HomeError, match=r"not a directory|cannot create"):
        init(target)
