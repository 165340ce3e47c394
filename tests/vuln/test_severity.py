"""Severity: CVSS vectors scored, qualitative words mapped, malformed vectors survived."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mamori.vuln.osv import Advisory, SeverityEntry, parse
from mamori.vuln.severity import (
    UNKNOWN,
    Label,
    Rating,
    from_vector,
    label_for_score,
    label_for_text,
    rate,
    worst,
)

V3_CRITICAL = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"  # 9.8
V3_MEDIUM = "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N"  # 6.1
V4_CRITICAL = "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"  # 9.3
V2_HIGH = "AV:N/AC:L/Au:N/C:P/I:P/A:P"  # 7.5


@pytest.mark.parametrize(
    ("score", "label"),
    [
        (0.0, Label.NONE),
        (0.1, Label.LOW),
        (3.9, Label.LOW),
        (4.0, Label.MEDIUM),
        (6.9, Label.MEDIUM),
        (7.0, Label.HIGH),
        (8.9, Label.HIGH),
        (9.0, Label.CRITICAL),
        (10.0, Label.CRITICAL),
    ],
)
def test_cvss_qualitative_scale(score: float, label: Label) -> None:
    assert label_for_score(score) is label


@pytest.mark.parametrize(
    ("kind", "vector", "score", "label"),
    [
        ("CVSS_V3", V3_CRITICAL, 9.8, Label.CRITICAL),
        ("CVSS_V3", V3_MEDIUM, 6.1, Label.MEDIUM),
        ("CVSS_V4", V4_CRITICAL, 9.3, Label.CRITICAL),
        ("CVSS_V2", V2_HIGH, 7.5, Label.HIGH),
    ],
)
def test_vectors_are_scored(kind: str, vector: str, score: float, label: Label) -> None:
    assert from_vector(kind, vector) == Rating(label, score, kind)


@pytest.mark.parametrize(
    ("kind", "vector"),
    [
        ("CVSS_V3", "CVSS:3.1/AV:N"),
        ("CVSS_V3", "garbage"),
        ("CVSS_V3", ""),
        ("CVSS_V4", "CVSS:4.0/AV:X"),
        ("CVSS_V2", "AV:Q"),
        ("Ubuntu", "high"),
    ],
)
def test_malformed_or_non_cvss_vectors_give_none(kind: str, vector: str) -> None:
    assert from_vector(kind, vector) is None


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("MODERATE", Label.MEDIUM),
        ("LOW", Label.LOW),
        ("HIGH", Label.HIGH),
        ("CRITICAL", Label.CRITICAL),
        ("unimportant", Label.LOW),
        ("medium", Label.MEDIUM),
        ("not yet assigned", Label.UNKNOWN),
        ("", Label.UNKNOWN),
    ],
)
def test_words(text: str, label: Label) -> None:
    assert label_for_text(text) is label


def record(**fields: Any) -> Advisory:
    return parse({"id": "X-1", **fields}, "x")


def test_newest_cvss_version_wins() -> None:
    a = record(
        severity=[
            {"type": "CVSS_V3", "score": V3_MEDIUM},
            {"type": "CVSS_V4", "score": V4_CRITICAL},
        ]
    )
    assert rate(a) == Rating(Label.CRITICAL, 9.3, "CVSS_V4")


def test_malformed_vector_falls_back_to_the_next_source() -> None:
    a = record(
        severity=[
            {"type": "CVSS_V4", "score": "CVSS:4.0/broken"},
            {"type": "CVSS_V3", "score": V3_MEDIUM},
        ]
    )
    assert rate(a).label is Label.MEDIUM
    b = record(
        severity=[{"type": "CVSS_V3", "score": "CVSS:3.1/nonsense"}],
        database_specific={"severity": "MODERATE"},
    )
    assert rate(b) == Rating(Label.MEDIUM, None, "database_specific")
    c = record(severity=[{"type": "CVSS_V3", "score": "CVSS:3.1/nonsense"}])
    assert rate(c) is UNKNOWN


def test_qualitative_severity_entry() -> None:
    assert rate(record(severity=[{"type": "Ubuntu", "score": "high"}])).label is Label.HIGH


def test_package_severity_takes_precedence() -> None:
    a = parse(
        {
            "id": "DEBIAN-CVE-1",
            "severity": [{"type": "CVSS_V3", "score": V3_MEDIUM}],
            "affected": [
                {
                    "package": {"ecosystem": "Debian:12", "name": "foo"},
                    "severity": [{"type": "CVSS_V3", "score": V3_CRITICAL}],
                },
                {"package": {"ecosystem": "Debian:11", "name": "foo"}},
            ],
        },
        "x",
    )
    assert rate(a, a.affected[0]).label is Label.CRITICAL
    assert rate(a, a.affected[1]).label is Label.MEDIUM
    assert rate(a).label is Label.MEDIUM


def test_debian_urgency_when_no_vector() -> None:
    a = parse(
        {
            "id": "DEBIAN-CVE-2",
            "affected": [
                {
                    "package": {"ecosystem": "Debian", "name": "foo"},
                    "ecosystem_specific": {"urgency": "high"},
                }
            ],
        },
        "x",
    )
    assert rate(a, a.affected[0]) == Rating(Label.HIGH, None, "ecosystem_specific")


def test_worst() -> None:
    low = Rating(Label.LOW, 2.0)
    high = Rating(Label.HIGH, 7.5)
    assert worst([low, high, UNKNOWN]) == high
    assert worst([]) is UNKNOWN
    assert worst([Rating(Label.HIGH), high]) == high  # a score beats none at the same label


@pytest.mark.parametrize("member", list(Label))
def test_every_label_has_a_distinct_rank(member: Label) -> None:
    assert sum(1 for other in Label if other.rank == member.rank) == 1


@given(
    kind=st.sampled_from(["CVSS_V2", "CVSS_V3", "CVSS_V4", "other"]), vector=st.text(max_size=80)
)
def test_fuzz_vectors_never_crash(kind: str, vector: str) -> None:
    rating = from_vector(kind, vector)
    assert rating is None or rating.label is not Label.UNKNOWN


@given(
    vector=st.builds(
        lambda parts: "CVSS:3.1/" + "/".join(parts),
        st.lists(
            st.sampled_from(
                [
                    "AV:N",
                    "AV:L",
                    "AC:L",
                    "PR:N",
                    "UI:N",
                    "S:U",
                    "S:C",
                    "C:H",
                    "I:H",
                    "A:H",
                    "A:X",
                    "E:P",
                ]
            ),
            max_size=10,
        ),
    )
)
def test_fuzz_v3_shaped_vectors_never_crash(vector: str) -> None:
    rating = from_vector("CVSS_V3", vector)
    if rating is not None:
        assert rating.score is not None and 0.0 <= rating.score <= 10.0


def test_severity_entry_is_plain_data() -> None:
    assert SeverityEntry("CVSS_V3", V3_CRITICAL).score == V3_CRITICAL
