"""Matching components against OSV records: every rule of docs/vuln-matching.md."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from mamori.vuln.components import Component
from mamori.vuln.match import (
    Outcome,
    Verdict,
    affected,
    findings,
    fixed_versions,
    normalise_name,
)
from mamori.vuln.osv import Advisory, parse
from mamori.vuln.severity import Label
from tests.conftest import shared_data


def adv(
    ecosystem: str,
    name: str,
    *events: tuple[str, str],
    rtype: str = "ECOSYSTEM",
    versions: tuple[str, ...] = (),
    id: str = "TEST-1",
    **extra: Any,
) -> Advisory:
    """A one-package record: events as ("introduced", "0"), ("fixed", "1.0"), …"""
    entry: dict[str, Any] = {"package": {"ecosystem": ecosystem, "name": name}}
    if events:
        entry["ranges"] = [{"type": rtype, "events": [{k: v} for k, v in events]}]
    if versions:
        entry["versions"] = list(versions)
    return parse({"id": id, "affected": [entry], **extra}, id)


def comp(ecosystem: str, name: str, version: str, **extra: Any) -> Component:
    return Component(name=name, version=version, ecosystem=ecosystem, purl="", **extra)


def outcome(c: Component, a: Advisory) -> Outcome:
    return affected(c, a).outcome


A, N, U = Outcome.AFFECTED, Outcome.NOT_AFFECTED, Outcome.UNKNOWN
ZERO = ("introduced", "0")


# ---------------------------------------------------------------- Debian


@pytest.mark.parametrize(
    ("version", "expected"),
    [("2.0", A), ("1:0.9", A), ("1:1.0", N), ("1:1.0-1", N)],
)
def test_debian_epoch(version: str, expected: Outcome) -> None:
    # 1:1.0 > 2.0: a string or PEP 440 comparison would call 2.0 fixed.
    a = adv("Debian", "foo", ZERO, ("fixed", "1:1.0"))
    assert outcome(comp("Debian", "foo", version), a) is expected


@pytest.mark.parametrize(("version", "expected"), [("1.0~rc1", A), ("1.0~~", A), ("1.0", N)])
def test_debian_tilde(version: str, expected: Outcome) -> None:
    a = adv("Debian", "foo", ZERO, ("fixed", "1.0"))
    assert outcome(comp("Debian", "foo", version), a) is expected


def _backport() -> Advisory:
    # Fixed upstream in 1.3; Debian 12 backported the fix as 1.2-3+deb12u1 (as a DSA does).
    return parse(
        {
            "id": "DSA-1-1",
            "aliases": ["CVE-2024-1"],
            "affected": [
                {
                    "package": {"ecosystem": "Debian", "name": "foo"},
                    "ranges": [
                        {"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.3-1"}]}
                    ],
                },
                {
                    "package": {"ecosystem": "Debian:12", "name": "foo"},
                    "ranges": [
                        {
                            "type": "ECOSYSTEM",
                            "events": [{"introduced": "0"}, {"fixed": "1.2-3+deb12u1"}],
                        }
                    ],
                },
                {
                    "package": {"ecosystem": "Debian:11", "name": "foo"},
                    "ranges": [
                        {
                            "type": "ECOSYSTEM",
                            "events": [{"introduced": "0"}, {"fixed": "1.1-1+deb11u2"}],
                        }
                    ],
                },
            ],
        },
        "dsa",
    )


def deb(version: str, distro: str = "debian:12", **extra: Any) -> Component:
    return comp("Debian", "libfoo1", version, source_name="foo", distro=distro, **extra)


@pytest.mark.parametrize(
    ("version", "distro", "expected"),
    [
        ("1.2-3+deb12u1", "debian:12", N),  # the backport: older than 1.3, but fixed
        ("1.2-3", "debian:12", A),
        ("1.2-4", "debian:12", N),
        ("1.1-1+deb11u2", "debian:11", N),
        ("1.1-1+deb11u1", "debian:11", A),
        ("1.2-3+deb12u1", "debian:13", A),  # no Debian:13 entry: the release-less one applies
        ("1.3-1", "debian:13", N),
    ],
)
def test_debian_release_entry_takes_precedence(
    version: str, distro: str, expected: Outcome
) -> None:
    assert outcome(deb(version, distro), _backport()) is expected


def test_debian_matches_the_source_package_and_its_version() -> None:
    # binary libfoo1 2.0-1 built from source foo 1.2-3: the source version decides.
    c = deb("2.0-1", source_version="1.2-3")
    assert outcome(c, _backport()) is A
    assert outcome(comp("Debian", "libfoo1", "1.2-3", distro="debian:12"), _backport()) is N


def test_release_only_entries_and_unknown_release_is_unknown() -> None:
    a = adv("Debian:12", "foo", ZERO, ("fixed", "1.2-3"))
    v = affected(deb("1.2-4", distro=""), a)
    assert v.outcome is U and "release" in v.reason


def test_entry_for_another_release_does_not_apply() -> None:
    a = adv("Debian:11", "foo", ZERO, ("fixed", "1.2-3"))
    assert outcome(deb("1.0-1"), a) is N


def test_upstream_records_do_not_apply_to_os_packages() -> None:
    a = adv("PyPI", "foo", ZERO, ("fixed", "9.0"))
    assert outcome(comp("Debian", "foo", "1.0-1", distro="debian:12"), a) is N


def test_ubuntu_lts_suffix() -> None:
    a = adv("Ubuntu:22.04:LTS", "foo", ZERO, ("fixed", "1.2-1ubuntu0.1"))
    assert outcome(comp("Ubuntu", "foo", "1.2-1", distro="ubuntu:22.04"), a) is A
    assert outcome(comp("Ubuntu", "foo", "1.2-1ubuntu0.1", distro="ubuntu:22.04"), a) is N
    pro = adv("Ubuntu:Pro:22.04:LTS", "foo", ZERO, ("fixed", "1.2-1ubuntu0.1"))
    assert outcome(comp("Ubuntu", "foo", "1.2-1", distro="ubuntu:22.04"), pro) is N


# ---------------------------------------------------------------- PyPI


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ("1.0rc1", A),  # pre-releases come before the release
        ("1.0.dev3", A),
        ("0.9+ubuntu1", A),  # local versions
        ("1.0", N),
        ("1.0.0", N),
        ("1.0+local", N),
        ("1.0.post1", N),
    ],
)
def test_pep440(version: str, expected: Outcome) -> None:
    a = adv("PyPI", "foo", ZERO, ("fixed", "1.0"))
    assert outcome(comp("PyPI", "foo", version), a) is expected


@pytest.mark.parametrize("name", ["Foo_Bar", "foo-bar", "FOO.bar", "foo__bar"])
def test_pypi_names_are_pep503_normalised(name: str) -> None:
    a = adv("PyPI", "foo-bar", ZERO, ("fixed", "2.0"))
    assert outcome(comp("PyPI", name, "1.0"), a) is A
    assert normalise_name("PyPI", name) == "foo-bar"


# ---------------------------------------------------------------- npm


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ("2.0.0-beta.1", A),
        ("1.5.0", A),
        ("1.0.0-rc.1", N),  # a pre-release of 1.0.0 is before "introduced: 1.0.0"
        ("2.0.0", N),
        ("2.0.0+build.1", N),
    ],
)
def test_npm_prereleases(version: str, expected: Outcome) -> None:
    a = adv("npm", "left-pad", ("introduced", "1.0.0"), ("fixed", "2.0.0"))
    assert outcome(comp("npm", "left-pad", version), a) is expected


def test_npm_names_are_exact() -> None:
    a = adv("npm", "Left-Pad", ZERO, ("fixed", "2.0.0"))
    assert outcome(comp("npm", "left-pad", "1.0.0"), a) is N
    assert outcome(comp("npm", "Left-Pad", "1.0.0"), a) is A


# ---------------------------------------------------------------- the evaluation algorithm


@pytest.mark.parametrize(
    ("version", "expected"),
    [("1.4", A), ("1.5", A), ("1.5.1", N), ("2.0", N)],
)
def test_last_affected_is_inclusive(version: str, expected: Outcome) -> None:
    a = adv("PyPI", "foo", ZERO, ("last_affected", "1.5"))
    assert outcome(comp("PyPI", "foo", version), a) is expected


@pytest.mark.parametrize(("version", "expected"), [("1.9", A), ("2.0", N), ("2.1", N)])
def test_limit_caps_the_range(version: str, expected: Outcome) -> None:
    a = adv("PyPI", "foo", ZERO, ("limit", "2.0"))
    assert outcome(comp("PyPI", "foo", version), a) is expected


def test_limit_star_is_no_limit() -> None:
    a = adv("PyPI", "foo", ZERO, ("limit", "*"))
    assert outcome(comp("PyPI", "foo", "99"), a) is A


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ("0.9", N),
        ("1.0", A),
        ("1.4", A),
        ("1.5", N),
        ("1.9", N),
        ("2.0", A),
        ("2.2", N),
        ("3.1", A),
    ],
)
def test_several_introduced_fixed_pairs(version: str, expected: Outcome) -> None:
    a = adv(
        "PyPI", "foo",
        ("introduced", "1.0"), ("fixed", "1.5"),
        ("introduced", "2.0"), ("fixed", "2.2"),
        ("introduced", "3.0"),
    )  # fmt: skip
    assert outcome(comp("PyPI", "foo", version), a) is expected


def test_events_are_sorted_before_evaluation() -> None:
    a = adv("PyPI", "foo", ("fixed", "2.0"), ("introduced", "1.0"))
    assert outcome(comp("PyPI", "foo", "1.5"), a) is A
    assert outcome(comp("PyPI", "foo", "2.0"), a) is N


def test_introduced_and_fixed_at_the_same_version_affect_nothing() -> None:
    a = adv("PyPI", "foo", ("introduced", "1.0"), ("fixed", "1.0"))
    assert outcome(comp("PyPI", "foo", "1.0"), a) is N


def test_versions_list_only() -> None:
    a = adv("PyPI", "foo", versions=("1.0", "1.1"))
    assert outcome(comp("PyPI", "foo", "1.1"), a) is A
    assert outcome(comp("PyPI", "foo", "1.1.0"), a) is A  # PEP 440: the same version
    assert outcome(comp("PyPI", "foo", "1.2"), a) is N
    # an ecosystem without a comparator can still match a listed version
    go = adv("Go", "example.org/m", versions=("v1.0.0",))
    assert outcome(comp("Go", "example.org/m", "v1.0.0"), go) is A
    assert outcome(comp("Go", "example.org/m", "v1.0.1"), go) is N


def test_versions_list_adds_to_ranges() -> None:
    a = adv("PyPI", "foo", ("introduced", "2.0"), ("fixed", "2.1"), versions=("1.0",))
    assert outcome(comp("PyPI", "foo", "1.0"), a) is A
    assert outcome(comp("PyPI", "foo", "2.0.5"), a) is A
    assert outcome(comp("PyPI", "foo", "1.5"), a) is N


def test_semver_range_type_works_without_an_ecosystem_comparator() -> None:
    a = adv("Go", "example.org/m", ZERO, ("fixed", "1.2.0"), rtype="SEMVER")
    assert outcome(comp("Go", "example.org/m", "1.1.9"), a) is A
    assert outcome(comp("Go", "example.org/m", "1.2.0"), a) is N


def test_withdrawn_advisories_affect_nothing() -> None:
    a = adv("PyPI", "foo", ZERO, withdrawn="2024-02-01T00:00:00Z")
    v = affected(comp("PyPI", "foo", "1.0"), a)
    assert v.outcome is N and v.reason.startswith("withdrawn")
    assert findings(comp("PyPI", "foo", "1.0"), [a]) == []


def test_other_packages_are_not_affected() -> None:
    a = adv("PyPI", "foo", ZERO)
    assert affected(comp("PyPI", "bar", "1.0"), a) == Verdict(Outcome.NOT_AFFECTED)


# ---------------------------------------------------------------- never "not affected" when unsure


@pytest.mark.parametrize(
    ("advisory", "component", "reason"),
    [
        (
            adv("PyPI", "foo", ZERO, ("fixed", "2.0")),
            comp("PyPI", "foo", "1.0-foo-bar"),
            "not a valid PEP 440",
        ),
        (
            adv("Debian", "foo", ZERO, ("fixed", "2.0")),
            comp("Debian", "foo", "bogus"),
            "not a valid dpkg",
        ),
        (
            adv("npm", "foo", ZERO, ("fixed", "2.0.0")),
            comp("npm", "foo", "latest"),
            "not a valid SemVer",
        ),
        (
            adv("PyPI", "foo", ZERO, ("fixed", "not!valid")),
            comp("PyPI", "foo", "1.0"),
            "advisory's fixed version",
        ),
        (
            adv("Go", "m", ZERO, ("fixed", "1.2.0")),
            comp("Go", "m", "1.0.0"),
            "cannot order Go versions",
        ),
        (
            adv("PyPI", "foo", ZERO, ("fixed", "abc123"), rtype="GIT"),
            comp("PyPI", "foo", "1.0"),
            "git commit",
        ),
        (adv("PyPI", "foo"), comp("PyPI", "foo", "1.0"), "without any versions or ranges"),
        (adv("PyPI", "foo", ZERO), comp("", "foo", "1.0"), "no known ecosystem"),
    ],
)
def test_unsure_is_unknown(advisory: Advisory, component: Component, reason: str) -> None:
    v = affected(component, advisory)
    assert v.outcome is U
    assert reason in v.reason


def test_unknown_in_one_range_does_not_hide_affected_in_another() -> None:
    doc = {
        "id": "X",
        "affected": [
            {
                "package": {"ecosystem": "PyPI", "name": "foo"},
                "ranges": [
                    {"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "bad!"}]},
                    {"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2.0"}]},
                ],
            }
        ],
    }
    assert outcome(comp("PyPI", "foo", "1.0"), parse(doc, "x")) is A
    assert outcome(comp("PyPI", "foo", "3.0"), parse(doc, "x")) is U


@pytest.mark.parametrize("member", list(Outcome))
def test_every_outcome_is_reachable(member: Outcome) -> None:
    a = adv("PyPI", "foo", ZERO, ("fixed", "2.0"))
    version = {Outcome.AFFECTED: "1.0", Outcome.NOT_AFFECTED: "2.0", Outcome.UNKNOWN: "x y"}
    assert outcome(comp("PyPI", "foo", version[member]), a) is member


# ---------------------------------------------------------------- fixed versions, merging


def test_fixed_versions_are_for_the_component_release_in_version_order() -> None:
    assert fixed_versions(deb("1.0-1"), _backport()) == ("1.2-3+deb12u1",)
    a = adv("PyPI", "foo", ZERO, ("fixed", "1.10"), ("introduced", "2.0"), ("fixed", "1.9.1"))
    assert fixed_versions(comp("PyPI", "foo", "1.0"), a) == ("1.9.1", "1.10")


CVSS_HIGH = [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H"}]


def test_aliases_merge_into_one_finding() -> None:
    c = comp("PyPI", "foo", "1.0")
    pysec = adv("PyPI", "foo", ZERO, ("fixed", "1.1"), id="PYSEC-2024-1", aliases=["CVE-2024-9"])
    ghsa = adv(
        "PyPI", "foo", ZERO, ("fixed", "1.2"), id="GHSA-aaaa-bbbb-cccc",
        aliases=["CVE-2024-9"], severity=CVSS_HIGH, summary="Denial of service",
    )  # fmt: skip
    other = adv(
        "PyPI", "foo", ZERO, id="GHSA-zzzz-zzzz-zzzz", database_specific={"severity": "LOW"}
    )
    fixed = adv("PyPI", "foo", ZERO, ("fixed", "0.5"), id="PYSEC-2020-1")
    (first, second) = findings(c, [pysec, ghsa, other, fixed])
    assert first.primary_id == "CVE-2024-9"
    assert first.advisory_ids == ("GHSA-aaaa-bbbb-cccc", "PYSEC-2024-1")
    assert first.aliases == ("GHSA-aaaa-bbbb-cccc", "PYSEC-2024-1")
    assert first.summary == "Denial of service"
    assert (first.severity.label, first.severity.score) == (Label.HIGH, 7.5)
    assert first.fixed == ("1.1", "1.2")
    assert first.verdict.outcome is A
    assert first.component == c
    assert second.primary_id == "GHSA-zzzz-zzzz-zzzz"
    assert second.severity.label is Label.LOW


def test_aliases_merge_transitively_and_primary_without_cve_is_first_sorted() -> None:
    c = comp("PyPI", "foo", "1.0")
    a = adv("PyPI", "foo", ZERO, id="PYSEC-2", aliases=["GHSA-b"])
    b = adv("PyPI", "foo", ZERO, id="OSV-9", aliases=["GHSA-b"])
    (f,) = findings(c, [a, b])
    assert f.primary_id == "GHSA-b"
    assert f.advisory_ids == ("OSV-9", "PYSEC-2")
    assert f.aliases == ("OSV-9", "PYSEC-2")


def test_merged_unknowns_keep_every_reason() -> None:
    c = comp("PyPI", "foo", "1.0")
    a = adv("PyPI", "foo", ZERO, ("fixed", "bad!"), id="A-1", aliases=["CVE-1"])
    b = adv("PyPI", "foo", ZERO, ("fixed", "also bad!"), id="B-1", aliases=["CVE-1"])
    (f,) = findings(c, [a, b])
    assert f.verdict.outcome is U
    assert "'bad!'" in f.verdict.reason and "'also bad!'" in f.verdict.reason


# ---------------------------------------------------------------- real PyPI advisories


def real(package: str, rid: str) -> Advisory:
    path = shared_data("osv-pypi", "vulns", package, f"{rid}.yaml")
    return parse(yaml.load(path.read_text(encoding="utf-8"), Loader=yaml.CBaseLoader), str(path))


@pytest.mark.parametrize(
    ("package", "rid", "version", "expected"),
    [
        # CVE-2023-46136: fixed in 2.3.8 and, for 3.0.x, in 3.0.1
        ("werkzeug", "PYSEC-2023-221", "2.3.7", A),
        ("werkzeug", "PYSEC-2023-221", "2.3.8", N),
        ("werkzeug", "PYSEC-2023-221", "3.0.0", A),
        ("werkzeug", "PYSEC-2023-221", "3.0.1", N),
        # CVE-2024-27351: 3.2 before 3.2.25, 4.2 before 4.2.11, 5.0 before 5.0.3
        ("django", "PYSEC-2024-47", "3.2.24", A),
        ("django", "PYSEC-2024-47", "3.2.25", N),
        ("django", "PYSEC-2024-47", "4.1.13", N),
        ("django", "PYSEC-2024-47", "4.2.10", A),
        ("django", "PYSEC-2024-47", "5.0.3", N),
        # CVE-2022-42969: every version up to and including 1.11.0 (last_affected)
        ("py", "PYSEC-2022-42969", "1.11.0", A),
        ("py", "PYSEC-2022-42969", "1.11.1", N),
        # withdrawn: rejected CVE
        ("loguru", "PYSEC-2022-15", "0.5.3", N),
    ],
)
def test_real_advisories(package: str, rid: str, version: str, expected: Outcome) -> None:
    assert outcome(comp("PyPI", package, version), real(package, rid)) is expected


def test_real_finding_for_werkzeug() -> None:
    (f,) = findings(comp("PyPI", "Werkzeug", "2.3.7"), [real("werkzeug", "PYSEC-2023-221")])
    assert f.primary_id == "CVE-2023-46136"
    assert f.aliases == ("GHSA-hrfv-mqp8-q5rw", "PYSEC-2023-221")
    assert f.fixed == ("2.3.8", "3.0.1")
    assert (f.severity.label, f.severity.score) == (Label.HIGH, 7.5)


def test_docs_name_every_outcome_and_label() -> None:
    docs = Path(__file__).resolve().parents[2] / "docs" / "vuln-matching.md"
    text = docs.read_text(encoding="utf-8")
    for value in [*Outcome, *Label]:
        assert f"`{value.value}`" in text, value
