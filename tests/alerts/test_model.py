"""The alert values: every enum member is handled."""

from __future__ import annotations

from mamori.alerts.model import AlertState, ChangeKind, HistoryAction, iso


def test_every_state_says_whether_it_absorbs() -> None:
    assert {s: s.active for s in AlertState} == {
        AlertState.OPEN: True,
        AlertState.ACKNOWLEDGED: True,
        AlertState.CLOSED: False,
    }


def test_the_vocabularies() -> None:
    assert [k.value for k in ChangeKind] == ["raised", "absorbed", "suppressed", "replayed"]
    assert [a.value for a in HistoryAction] == [
        "raised",
        "acknowledged",
        "escalated",
        "closed",
        "linked",
    ]


def test_iso() -> None:
    assert iso(None) is None
    assert iso(0.0) == "1970-01-01T00:00:00.000Z"
    assert iso(1.2345) == "1970-01-01T00:00:01.234Z"
