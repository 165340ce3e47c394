"""The two adapters against the real packages: linkage → mamori.alerts (a real alert store in
the home), sending → mamori.notify (a real delivery queue). No fakes here."""

from __future__ import annotations

import datetime as dt

import pytest

from mamori.alerts.store import AlertStore
from mamori.detect.detection import Detection
from mamori.home import Home
from mamori.incidents import linkage, sending
from mamori.incidents.errors import IncidentsError, NotFound, StoreUnavailable
from mamori.incidents.model import AlertId, IncidentId

AT = 1_790_000_000.0


def _alert(home: Home, rule: str = "rule-ssh", host: str = "web-01") -> AlertId:
    d = Detection(
        rule=rule,
        title="SSH brute force",
        severity="high",
        clauses=("SEC-5",),
        events=(3, 4),
        first_seen=AT,
        last_seen=AT + 60,
        group=(("host.name", host), ("user.name", "alice")),
        summary=f"SSH brute force on {host}",
    )
    with AlertStore.open(home) as store:
        (change,) = store.ingest([d], now=AT + 61)
    return AlertId(str(change.alert))


def test_alert_summary_and_link(home: Home) -> None:
    aid = _alert(home)
    ref = linkage.alert_summary(home, aid)
    assert (ref.id, ref.rule, ref.severity, ref.title) == (
        aid,
        "rule-ssh",
        "high",
        "SSH brute force",
    )
    assert ref.values("host.name") == ("web-01",) and ref.values("user.name") == ("alice",)
    assert ref.events == (3, 4) and ref.clauses == ("SEC-5",)
    assert ref.first_seen == dt.datetime.fromtimestamp(AT, dt.UTC)
    now = dt.datetime(2026, 9, 21, tzinfo=dt.UTC)
    linkage.link(home, aid, IncidentId("INC-2026-0001"), "tanaka", now)
    with AlertStore.open(home) as store:
        assert store.get(int(aid)).incident == "INC-2026-0001"
    # Merged away: the alert store keeps the first incident, which leads on; no failure.
    linkage.link(home, aid, IncidentId("INC-2026-0002"), "tanaka", now,
                 replacing=IncidentId("INC-2026-0001"))  # fmt: skip
    # Any other incident is refused, with the alert store's reason.
    with pytest.raises(IncidentsError, match="INC-2026-0001"):
        linkage.link(home, aid, IncidentId("INC-2026-0003"), "tanaka", now)


def test_unknown_alerts(home: Home) -> None:
    with pytest.raises(NotFound, match="no alert 77"):
        linkage.alert_summary(home, AlertId("77"))
    with pytest.raises(NotFound, match="numbers"):
        linkage.alert_summary(home, AlertId("abc"))


def test_a_missing_alert_is_not_found_not_a_refusal(home: Home) -> None:
    """Regression: the alert store's AlertNotFound came out as a plain IncidentsError, and the
    `None → NotFound` branch after it never ran."""
    from mamori.alerts.errors import AlertNotFound

    missing = AlertId(str(int(_alert(home)) + 1))
    with pytest.raises(NotFound) as e:
        linkage.alert_summary(home, missing)
    assert e.value.message == f"there is no alert {missing}"
    assert e.value.hint == "list the alerts with `mamori alerts list`"
    assert isinstance(e.value.__cause__, AlertNotFound)


def test_an_alert_store_that_cannot_be_used_is_store_unavailable(home: Home) -> None:
    aid = _alert(home)
    for p in home.root.glob("alerts.db*"):
        p.unlink()
    (home.root / "alerts.db").mkdir()
    with pytest.raises(StoreUnavailable, match=f"cannot read alert {aid}"):
        linkage.alert_summary(home, aid)


def _smtp(home: Home) -> None:
    with home.config_path.open("a", encoding="utf-8") as f:
        f.write('\n[smtp]\nhost = "127.0.0.1"\nport = 2525\nsecurity = "none"\n'
                'username = ""\nfrom = "mamori@example.jp"\n')  # fmt: skip


def test_send_mail_queues_one_email_to_exactly_the_addresses(home: Home) -> None:
    from mamori.notify import list_deliveries

    _smtp(home)
    sending.send_mail(home, ["csirt@agency.example.jp"], "【第1報（速報）】INC-2026-0001", "本文",
                      {"incident": "INC-2026-0001"}, "csirt", cc=["lead@example.jp"],
                      severity="critical")  # fmt: skip
    (d,) = list_deliveries(home)
    assert d.recipients == ("csirt@agency.example.jp", "lead@example.jp")
    assert d.subject == "【第1報（速報）】INC-2026-0001" and d.body == "本文"
    assert d.kind.value == "csirt"


def test_send_mail_without_smtp_is_a_clear_error(home: Home) -> None:
    with pytest.raises(IncidentsError, match=r"\[smtp\]"):
        sending.send_mail(home, ["a@b.example"], "s", "b", {}, "csirt")
    with pytest.raises(IncidentsError, match="at least one address"):
        sending.send_mail(home, [], "s", "b", {}, "csirt")


def test_incident_from_a_real_alert_reported_through_the_real_queue(home: Home) -> None:
    from mamori.incidents.csirt import csirt_report
    from mamori.incidents.service import create_incident
    from mamori.incidents.store import IncidentStore
    from mamori.notify import list_deliveries
    from tests.incidents.conftest import CSIRT_CC, CSIRT_TO, configure_csirt

    _smtp(home)
    configure_csirt(home)
    aid = _alert(home)
    now = dt.datetime(2026, 9, 21, 0, 5, tzinfo=dt.UTC)
    with IncidentStore.open(home) as store:
        out = create_incident(store, actor="tanaka", now=now, alert_ids=[aid])
        assert out.problems == ()
        msg = csirt_report(store, out.incident.id, "first", actor="tanaka", now=now)
    (d,) = list_deliveries(home)
    assert d.recipients == (CSIRT_TO, CSIRT_CC) and d.subject == msg.subject
    with AlertStore.open(home) as alerts:
        assert alerts.get(int(aid)).incident == out.incident.id


def test_notices_go_along_the_routes(home: Home) -> None:
    from mamori.incidents.service import create_incident
    from mamori.incidents.store import IncidentStore
    from mamori.notify import list_deliveries

    _smtp(home)
    with home.config_path.open("a", encoding="utf-8") as f:
        f.write('\n[[route]]\nname = "soc"\nkind = "email"\nto = ["soc@example.jp"]\n'
                'min_severity = "informational"\n')  # fmt: skip
    now = dt.datetime(2026, 9, 21, tzinfo=dt.UTC)
    with IncidentStore.open(home) as store:
        out = create_incident(store, actor="a", now=now, title="DB down")
    assert out.problems == ()
    (d,) = list_deliveries(home)
    assert d.kind.value == "incident" and d.route == "soc"
    assert d.subject == f"[P3] {out.incident.id} インシデント起票: DB down"
