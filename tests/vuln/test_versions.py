"""Ecosystem-correct version ordering: the orderings that naive comparison gets wrong."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mamori.vuln.errors import VulnError
from mamori.vuln.versions import (
    DPKG,
    PEP440,
    SEMVER,
    Scheme,
    UnparsableVersion,
    base_ecosystem,
    comparator,
    scheme_for,
    supported_ecosystems,
)


def ordered(scheme: Scheme, *versions: str) -> bool:
    keys = [scheme.parse(v) for v in versions]
    return all(a < b for a, b in itertools.pairwise(keys))


@pytest.mark.parametrize(
    "versions",
    [
        ("2.0", "1:1.0"),  # epoch wins over everything
        ("1:1.0", "1:1.1", "2:0.1"),
        ("1.0~rc1", "1.0"),  # ~ sorts before the empty string
        ("1.0~~", "1.0~", "1.0"),
        ("1.2-3", "1.2-3+deb12u1", "1.2-4", "1.3"),  # a stable update
        ("3.0.15-1~deb12u1", "3.0.15-1"),  # a backport sorts before the version it backports
        ("1.0-1", "1.0a-1"),
        ("9", "10"),
    ],
)
def test_dpkg_ordering(versions: tuple[str, ...]) -> None:
    assert ordered(DPKG, *versions)


@pytest.mark.parametrize(
    "versions",
    [
        ("1.0.dev1", "1.0a1", "1.0b2", "1.0rc1", "1.0", "1.0.post1", "1.1"),
        ("1.0", "1.0+local.1", "1.0+local.2", "1.0.post1"),  # local versions
        ("2.0", "1!0.1", "1!0.2"),  # epochs
        ("1.9", "1.10"),
    ],
)
def test_pep440_ordering(versions: tuple[str, ...]) -> None:
    assert ordered(PEP440, *versions)


def test_pep440_equivalent_spellings_are_equal() -> None:
    a, b = PEP440.parse("1.0"), PEP440.parse("1.0.0")
    assert not a < b and not b < a
    assert PEP440.parse("1.0RC1") == PEP440.parse("1.0rc1")


@pytest.mark.parametrize(
    "versions",
    [
        ("1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-beta", "1.0.0-rc.1", "1.0.0"),  # SemVer §11
        ("1.0.0-rc.2", "1.0.0-rc.10"),  # numeric identifiers compare as numbers
        ("1.9.0", "1.10.0"),
    ],
)
def test_semver_ordering(versions: tuple[str, ...]) -> None:
    assert ordered(SEMVER, *versions)


def test_semver_ignores_build_metadata() -> None:
    # SemVer 2.0 §10: 1.0.0+build has the same precedence as 1.0.0.
    a, b = SEMVER.parse("1.0.0+build.5"), SEMVER.parse("1.0.0")
    assert not a < b and not b < a


@pytest.mark.parametrize(
    ("ecosystem", "scheme"),
    [("PyPI", PEP440), ("npm", SEMVER), ("Debian", DPKG), ("Debian:12", DPKG), ("Ubuntu", DPKG)],
)
def test_scheme_for_supported_ecosystems(ecosystem: str, scheme: Scheme) -> None:
    assert scheme_for(ecosystem) is scheme
    assert comparator(ecosystem) is not None


@pytest.mark.parametrize("ecosystem", ["Go", "Maven", "crates.io", "", "Alpine:v3.19"])
def test_no_comparator_for_other_ecosystems(ecosystem: str) -> None:
    assert scheme_for(ecosystem) is None
    assert comparator(ecosystem) is None


def test_supported_ecosystems_all_have_a_scheme() -> None:
    assert all(scheme_for(e) is not None for e in supported_ecosystems())


def test_base_ecosystem() -> None:
    assert base_ecosystem("Debian:12") == "Debian"
    assert base_ecosystem("Ubuntu:22.04:LTS") == "Ubuntu"
    assert base_ecosystem("PyPI") == "PyPI"


@pytest.mark.parametrize(
    ("scheme", "version"),
    [(PEP440, "1.0-foo-bar"), (PEP440, ""), (SEMVER, "not.a.version"), (DPKG, "a1"), (DPKG, "")],
)
def test_unparsable_version_raises_our_error(scheme: Scheme, version: str) -> None:
    assert scheme.key(version) is None
    with pytest.raises(UnparsableVersion) as info:
        scheme.parse(version)
    assert isinstance(info.value, VulnError)
    assert scheme.name in info.value.message
    assert info.value.hint


def test_parsed_versions_are_cached() -> None:
    PEP440.key("7.7.7")
    before = PEP440.key.cache_info().hits  # type: ignore[attr-defined]
    PEP440.key("7.7.7")
    assert PEP440.key.cache_info().hits == before + 1  # type: ignore[attr-defined]


@pytest.mark.parametrize("scheme", [PEP440, SEMVER, DPKG])
@given(text=st.text(max_size=40))
def test_fuzz_only_our_error_escapes(scheme: Scheme, text: str) -> None:
    try:
        key = scheme.parse(text)
    except UnparsableVersion:
        assert scheme.key(text) is None
    else:
        assert not key < key


@given(text=st.from_regex(r"\A([0-9]{1,3}:)?[0-9]{1,3}(\.[0-9]{1,3}){0,2}(~rc[0-9])?(-[0-9])?\Z"))
def test_fuzz_dpkg_valid_versions_parse(text: str) -> None:
    assert DPKG.key(text) is not None
