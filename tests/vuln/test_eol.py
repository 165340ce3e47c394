"""endoflife.date product files: parsing, normalising, importing into the home."""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import stat
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mamori.vuln.eol import (
    Catalogue,
    front_matter,
    load,
    parse_files,
    parse_product,
    read_folder,
    save,
    store_path,
)
from mamori.vuln.errors import VulnError
from tests.conftest import shared_data

D = dt.date


def product_text(releases: str, extra: str = "") -> str:
    return (
        "---\ntitle: Thing\ncategory: server-app\n"
        + extra
        + "identifiers:\n  - purl: pkg:pypi/thing\n  - cpe: cpe:/a:x:thing\n  - repology: thing\n"
        + "releases:\n"
        + releases
        + "---\n\n> Thing is a thing.\n"
    )


@pytest.fixture(scope="module")
def real() -> Catalogue:
    return read_folder(shared_data("endoflife"))


def test_every_real_product_parses(real: Catalogue) -> None:
    assert len(real.products) == 464
    assert real.problems == ()
    # The data's README says 8,321 cycles; the files hold 8,351. Counted independently: every
    # list item starting with releaseCycle (checkmk.md writes "-<TAB>releaseCycle").
    folder = shared_data("endoflife", "products")
    listed = sum(
        len(re.findall(r"^\s*-\s+releaseCycle:", f.read_text(encoding="utf-8"), re.M))
        for f in folder.glob("*.md")
    )
    assert sum(len(p.cycles) for p in real.products.values()) == listed == 8351
    assert len(real.sha256) == 64
    assert real.data_date is not None


def test_real_facts(real: Catalogue) -> None:
    py38 = real.products["python"].cycle("3.8")
    assert py38 is not None
    assert (py38.eol, py38.eoas, py38.release_date) == (
        D(2024, 10, 7),
        D(2021, 5, 3),
        D(2019, 10, 14),
    )
    debian = real.products["debian"]
    assert debian.title == "Debian" and debian.category == "os"
    assert "cpe:2.3:o:debian:debian_linux" in debian.cpes
    d11, d12 = debian.cycle("11"), debian.cycle("12")
    assert d11 is not None and d12 is not None
    assert (d11.codename, d11.eol, d11.eoes) == ("Bullseye", D(2024, 8, 14), D(2026, 8, 31))
    assert (d12.codename, d12.eol, d12.eoes) == ("Bookworm", D(2026, 7, 11), D(2028, 6, 30))
    pg12 = real.products["postgresql"].cycle("12")
    assert pg12 is not None and pg12.eol == D(2024, 11, 21)
    dj32 = real.products["django"].cycle("3.2")
    assert dj32 is not None
    assert (dj32.lts, dj32.eoas, dj32.eol, dj32.latest) == (
        True,
        D(2021, 12, 7),
        D(2024, 4, 1),
        "3.2.25",
    )
    assert "pkg:pypi/django" in real.products["django"].purls


def test_real_data_has_both_booleans(real: Catalogue) -> None:
    eols = [c.eol for p in real.products.values() for c in p.cycles]
    assert True in eols and False in eols
    assert all(isinstance(e, bool | D) for e in eols)


def test_dates_strings_and_booleans_are_normalised() -> None:
    text = product_text(
        '  - releaseCycle: "2.0"\n    releaseDate: 2024-01-02\n    eol: "2026-03-04"\n'
        '    eoas: true\n    eoes: false\n    lts: 2025-01-01\n    latest: "2.0.7"\n'
        '  - releaseCycle: "1.0"\n    eol: true\n    discontinued: 2020-01-01\n'
        "  - releaseCycle: 7\n    eol: false\n"
    )
    p = parse_product("thing", text)
    new, old, seven = p.cycles
    assert (new.release_date, new.eol, new.eoas, new.eoes, new.lts) == (
        D(2024, 1, 2),
        D(2026, 3, 4),
        True,
        False,
        D(2025, 1, 1),
    )
    assert (old.eol, old.discontinued, old.lts, old.eoas, old.latest) == (
        True,
        D(2020, 1, 1),
        False,
        None,
        None,
    )
    assert (seven.cycle, seven.eol) == ("7", False)
    assert p.purls == ("pkg:pypi/thing",) and p.cpes == ("cpe:/a:x:thing",)


def test_liquid_templates_stay_text() -> None:
    extra = (
        "changelogTemplate: |\n"
        "  https://x.org/r/{{\"__LATEST__\" | replace:'.',''}}/\n"
        'releaseLabel: "{{ __RELEASE_CYCLE__ }} (__CODENAME__)"\n'
    )
    p = parse_product("thing", product_text('  - releaseCycle: "1"\n    eol: false\n', extra))
    assert p.cycles[0].cycle == "1"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("title: x\n", "no front matter"),
        ("---\ntitle: x\nreleases: []\n", "not closed"),
        ("---\ntitle: [unclosed\n---\n", "not valid YAML"),
        ("---\n- a\n- b\n---\n", "not a mapping"),
        ("---\ntitle: x\n---\n", "no 'releases:' list"),
        ("---\nreleases:\n  - releaseCycle: 3.10\n    eol: false\n---\n", "not quoted text"),
        ('---\nreleases:\n  - releaseCycle: "1"\n    eol: soon\n---\n', "cycle '1': eol"),
        ('---\nreleases:\n  - releaseCycle: "1"\n    eol: 2024-02-30\n---\n', "cannot be read"),
        ("---\nreleases:\n  - just a string\n---\n", "releases[0] is not a mapping"),
        ('---\nreleases:\n  - releaseCycle: "1"\n    releaseDate: true\n---\n', "releaseDate"),
    ],
)
def test_malformed_files_say_why(text: str, reason: str) -> None:
    with pytest.raises(VulnError) as e:
        parse_product("bad", text)
    assert reason in e.value.message


def test_front_matter_allows_a_byte_order_mark_and_trailing_spaces() -> None:
    assert front_matter("\ufeff--- \na: 1\n---  \nbody") == "a: 1"


def test_a_bad_file_is_reported_and_the_rest_imported() -> None:
    good = product_text('  - releaseCycle: "1"\n    eol: 2030-01-01\n').encode()
    cat = parse_files(
        [("good.md", good), ("broken.md", b"no front matter"), ("latin.md", b"---\n\xff\n---\n")]
    )
    assert list(cat.products) == ["good"]
    assert [(p.file, p.reason.split(":")[0]) for p in cat.problems] == [
        ("broken.md", "no front matter"),
        ("latin.md", "not UTF-8 text"),
    ]


def test_digest_depends_on_content() -> None:
    a = parse_files([("a.md", b"x")]).sha256
    assert a == parse_files([("a.md", b"x")]).sha256
    assert a != parse_files([("a.md", b"y")]).sha256


def test_save_and_load_round_trip_with_private_modes(tmp_path: Path) -> None:
    text = product_text(
        '  - releaseCycle: "1"\n    eol: true\n    lts: 2020-01-01\n    codename: "Uno"\n'
    )
    cat = parse_files([("thing.md", text.encode()), ("bad.md", b"")], source="s", imported_at="t")
    path = save(tmp_path, cat)
    assert path == store_path(tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert load(tmp_path) == cat
    save(tmp_path, cat)  # replaces
    assert load(tmp_path) == cat


def test_load_without_import_says_how(tmp_path: Path) -> None:
    with pytest.raises(VulnError) as e:
        load(tmp_path)
    assert e.value.hint is not None and "eol import" in e.value.hint


def test_load_refuses_a_damaged_store(tmp_path: Path) -> None:
    store_path(tmp_path).parent.mkdir()
    for content in (b"{", b'{"format": 1}', b"[]"):
        store_path(tmp_path).write_bytes(content)
        with pytest.raises(VulnError):
            load(tmp_path)


def test_read_folder_without_products(tmp_path: Path) -> None:
    with pytest.raises(VulnError, match="no product files"):
        read_folder(tmp_path)
    with pytest.raises(VulnError, match="cannot read"):
        read_folder(tmp_path / "missing")


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_fuzz_only_vuln_error(text: str) -> None:
    for candidate in (text, f"---\n{text}\n---\n", f"---\nreleases:\n{text}\n---\n"):
        with contextlib.suppress(VulnError):
            parse_product("fuzz", candidate)
