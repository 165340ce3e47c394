"""The checks on the values of every change: text, actors, times, breach details."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest

from mamori.incidents.checks import aware, check_breach, clean_actor, clean_text, uniq
from mamori.incidents.errors import IncidentsError
from mamori.incidents.model import BreachDetails
from mamori.incidents.service import create_incident
from mamori.incidents.store import IncidentStore
from mamori.incidents.tickets import TicketCategory, TicketStore, comment_ticket, open_ticket
from tests.incidents.conftest import T0

DETAILS = BreachDetails(
    what_happened="誤送信", damage="1件", containment="削除依頼", recovery="手順見直し",
    persons_response="お詫び", persons_affected=None, data_items=("氏名",), recognised_at=T0,
)  # fmt: skip


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("一行目\r\n二行目", "一行目\n二行目"),  # browsers, API clients, Windows
        ("一行目\r二行目", "一行目\n二行目"),  # a lone CR (old Mac OS)
        ("a\r\n\r\nb\r\n", "a\n\nb"),
        ("a\tb\nc", "a\tb\nc"),
    ],
)
def test_crlf_line_breaks_were_refused_as_control_characters(given: str, kept: str) -> None:
    """Regression: `\\r` counted as a control character, so CRLF text was refused."""
    assert clean_text(given, "the description") == kept


@pytest.mark.parametrize("bad", ["a\x07b", "a\x00b", "a\x1bb", "a\x7fb", "a\x0bb"])
def test_other_control_characters_are_still_refused(bad: str) -> None:
    with pytest.raises(IncidentsError, match="control characters"):
        clean_text(bad, "the description")


@pytest.mark.parametrize("broken", ["a\r\nb", "a\rb", "a\nb"])
def test_one_line_values_refuse_every_line_break(broken: str) -> None:
    with pytest.raises(IncidentsError, match="line breaks"):
        clean_text(broken, "the title", line=True)
    with pytest.raises(IncidentsError, match="line breaks"):
        clean_actor(broken)


def test_length_and_emptiness() -> None:
    assert clean_text("  x \r\n", "the note") == "x"
    assert clean_text("", "the note") == ""
    with pytest.raises(IncidentsError, match="the title is empty"):
        clean_text(" \r\n ", "the title", required=True)
    # The limit counts the text as kept: a CRLF is one character.
    assert clean_text("a\r\n" * 5, "the note", 9) == "a\na\na\na\na"
    with pytest.raises(IncidentsError, match="10 characters long"):
        clean_text("x" * 10, "the note", 9)


def test_times_carry_their_zone() -> None:
    assert aware(T0, "now") is T0
    with pytest.raises(IncidentsError, match="time zone"):
        aware(dt.datetime(2026, 11, 27, 10, 0), "the detection time")


def test_breach_details_are_cleaned() -> None:
    got = check_breach(
        replace(DETAILS, what_happened=" 誤送信\r\n宛先誤り ", data_items=(" 氏名 ", ""))
    )
    assert got.what_happened == "誤送信\n宛先誤り" and got.data_items == ("氏名",)
    with pytest.raises(IncidentsError, match="damage"):
        check_breach(replace(DETAILS, damage=" "))


def test_uniq() -> None:
    assert uniq([" a", "b", ""], ["a ", "c"]) == ("a", "b", "c")


def test_crlf_text_is_accepted_by_incidents_and_tickets(
    store: IncidentStore, tickets: TicketStore
) -> None:
    """Regression: the same refusal in the service desk's own check (`tickets._clean`)."""
    inc = create_incident(store, actor="a", now=T0, title="改行", description="一行目\r\n二行目")
    assert store.get(inc.incident.id).description == "一行目\n二行目"
    t = open_ticket(tickets, category=TicketCategory.INQUIRY, requester="yamada", subject="VPN",
                    description="a\r\nb", actor="yamada", now=T0)  # fmt: skip
    assert t.description == "a\nb"
    t = comment_ticket(tickets, t.id, "承知しました。\r\n確認します。", actor="desk", now=T0)
    assert t.log[-1].text == "承知しました。\n確認します。"
    with pytest.raises(IncidentsError, match="line breaks"):
        open_ticket(tickets, category=TicketCategory.INQUIRY, requester="yamada",
                    subject="a\r\nb", actor="yamada", now=T0)  # fmt: skip
