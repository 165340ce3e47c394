"""Post-incident review (FLT-2): cause, impact, past occurrences, recurrence, countermeasures.

Past occurrences are found automatically (:func:`past_occurrences`): earlier incidents sharing a
rule, host or user, or with a similar title (token Jaccard ≥ 0.5, Japanese split into bigrams
as the ledger search does), and ledger events before the incident with the same rule's alerts,
host or user, found through the ledger's search index. When the ledger cannot be searched the
answer says it is incomplete rather than "none".
"""

from __future__ import annotations

import datetime as dt
import re
import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any, Final

import orjson

from mamori.errors import MamoriError
from mamori.incidents import trail
from mamori.incidents.errors import IncidentsError, NotFound
from mamori.incidents.model import (
    Countermeasure,
    CountermeasureState,
    Incident,
    IncidentId,
    Level,
    PastOccurrence,
    PastOccurrences,
    Review,
    iso,
)
from mamori.incidents.store import IncidentStore

TITLE_SIMILARITY: Final = 0.5
"""Token Jaccard similarity at or above which two titles are "similar"."""

EVENTS_PER_QUERY: Final = 20
"""Ledger events listed per rule, host or user."""

RULE_FIELDS: Final = ("rule.id", "mamori.audit.rule")
"""Where a ledger event names the rule of an alert (ECS `rule.id`; alert audit events)."""

_WORD = re.compile(r"\w+")


def title_tokens(title: str) -> frozenset[str]:
    """Lower-case words; CJK runs as overlapping bigrams (the search index's analysis)."""
    from mamori.ledger.search.fields import analyze

    return frozenset(_WORD.findall(analyze(title).lower()))


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    if not a and not b:
        return 0.0
    return len(a & b) / len(a | b)


def similar_incidents(incident: Incident, others: Iterable[Incident]) -> list[PastOccurrence]:
    """Earlier incidents like `incident` (pure): same rule, host or user, or a similar title."""
    mine = title_tokens(incident.title)
    out: list[PastOccurrence] = []
    for o in others:
        if o.id == incident.id or o.detected_at >= incident.detected_at:
            continue
        if incident.id in (o.merged_into,) or o.id == incident.merged_into:
            continue
        matched = [f"rule:{r}" for r in incident.rules if r in o.rules]
        matched += [f"host:{h}" for h in incident.hosts if h in o.hosts]
        matched += [f"user:{u}" for u in incident.users if u in o.users]
        if jaccard(mine, title_tokens(o.title)) >= TITLE_SIMILARITY:
            matched.append("title")
        if matched:
            out.append(
                PastOccurrence(
                    kind="incident",
                    ref=o.id,
                    when=o.detected_at,
                    matched=tuple(matched),
                    summary=f"{o.title} ({o.priority.value}, {o.stage.value})",
                    link=f"/incidents/{o.id}",
                )
            )
    out.sort(key=lambda p: p.when or dt.datetime.min.replace(tzinfo=dt.UTC), reverse=True)
    return out


def ledger_occurrences(
    store: IncidentStore, incident: Incident, *, per_query: int = EVENTS_PER_QUERY
) -> list[PastOccurrence]:
    """Ledger events before the incident with its rules' alerts, its hosts or its users.

    mamori's own audit events are left out of the host and user searches (their host and user
    are mamori's machine and operator, not the incident's). Raises MamoriError, OSError or
    sqlite3.Error when the ledger or its index cannot be read.
    """
    from mamori.ledger.search import SearchIndex
    from mamori.ledger.search.query import And, Node, Not, Or, field_filter
    from mamori.ledger.store import Reader

    home = store.home
    start = min(t for t in (incident.detected_at, incident.occurred_at) if t is not None)
    until_us = int(start.timestamp() * 1_000_000)
    own = {i for a in incident.alerts for i in a.events}
    not_ours = Not(field_filter("event.module", "mamori"))
    queries: list[tuple[str, Node]] = []
    for rule in incident.rules:
        queries.append((f"rule:{rule}", Or(tuple(field_filter(f, rule) for f in RULE_FIELDS))))
    for host in incident.hosts:
        queries.append((f"host:{host}", And((field_filter("host.name", host), not_ours))))
    for user in incident.users:
        queries.append((f"user:{user}", And((field_filter("user.name", user), not_ours))))
    if not queries:
        return []
    found: dict[int, tuple[list[str], int, dict[str, Any]]] = {}
    with Reader(home.ledger_db) as reader, SearchIndex.open(home.index_dir) as index:
        index.catch_up(reader)
        for label, node in queries:
            for idx in index.find(node, until_us=until_us, limit=per_query + len(own)):
                if idx in own:
                    continue
                if idx in found:
                    found[idx][0].append(label)
                    continue
                row = reader.entry(idx)
                if row is None or row[1] is None:
                    continue
                found[idx] = ([label], row[0], _event(row[1]))
    out = [
        PastOccurrence(
            kind="event",
            ref=str(idx),
            when=_event_time(event, received_us),
            matched=tuple(labels),
            summary=_event_summary(event),
            link=f"/events/{idx}",
        )
        for idx, (labels, received_us, event) in found.items()
    ]
    out.sort(key=lambda p: int(p.ref), reverse=True)
    return out


def _event(entry: bytes) -> dict[str, Any]:
    try:
        doc = orjson.loads(entry)
    except orjson.JSONDecodeError:
        return {}
    event = doc.get("event") if isinstance(doc, dict) else None
    return event if isinstance(event, dict) else {}


def _get(event: Mapping[str, Any], path: str) -> Any:
    if path in event:
        return event[path]
    cur: Any = event
    for part in path.split("."):
        if not isinstance(cur, Mapping) or part not in cur:
            return None
        cur = cur[part]
    return cur


def _event_time(event: Mapping[str, Any], received_us: int) -> dt.datetime:
    ts = _get(event, "@timestamp")
    if isinstance(ts, str):
        try:
            t = dt.datetime.fromisoformat(ts.replace("Z", "+00:00"))
            if t.tzinfo is not None:
                return t
        except ValueError:
            pass
    return dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=received_us)


def _event_summary(event: Mapping[str, Any]) -> str:
    parts = [
        str(v)
        for v in (
            _get(event, "event.action"),
            _get(event, "rule.name") or _get(event, "mamori.audit.title"),
            _get(event, "host.name"),
            _get(event, "user.name"),
            _get(event, "message"),
        )
        if v not in (None, "")
    ]
    return " ".join(" ".join(parts).split())[:300]


def past_occurrences(store: IncidentStore, incident_id: str) -> PastOccurrences:
    """Earlier incidents and ledger events like this incident (FLT-2), newest first."""
    inc = store.get(incident_id)
    items = similar_incidents(inc, store.incidents(include_closed=True, limit=100_000))
    try:
        events = ledger_occurrences(store, inc)
    except (MamoriError, OSError, sqlite3.Error) as e:
        why = e.message if isinstance(e, MamoriError) else str(e)
        return PastOccurrences(
            tuple(items), complete=False, problem=f"the ledger could not be searched: {why}"
        )
    return PastOccurrences((*items, *events))


def save_review(
    store: IncidentStore,
    incident_id: str,
    *,
    actor: str,
    now: dt.datetime,
    cause: str | None = None,
    impact: str | None = None,
    recurrence: Level | None = None,
    recurrence_reason: str | None = None,
    complete: bool = False,
) -> Review:
    """Write the given parts of the review (None: unchanged), refresh its past occurrences, and
    with `complete`, mark it completed. A completed review has a cause, an impact, a recurrence
    likelihood with its reason, and, when it may recur (high or medium), at least one permanent
    countermeasure."""
    actor = actor.strip()
    if not actor:
        raise IncidentsError("a review needs an actor", hint="pass --as NAME")
    inc = store.get(incident_id)
    if inc.merged_into is not None:
        raise IncidentsError(
            f"{inc.id} was merged into {inc.merged_into}", hint=f"review {inc.merged_into}"
        )
    past = past_occurrences(store, inc.id)
    with store.transaction() as conn:
        old = store.review(inc.id) or Review(inc.id)
        rv = Review(
            incident_id=inc.id,
            cause=old.cause if cause is None else cause.strip(),
            impact=old.impact if impact is None else impact.strip(),
            recurrence=old.recurrence if recurrence is None else recurrence,
            recurrence_reason=(
                old.recurrence_reason if recurrence_reason is None else recurrence_reason.strip()
            ),
            past=past,
            completed_at=old.completed_at,
            completed_by=old.completed_by,
            updated_at=now,
            updated_by=actor,
        )
        if complete and not old.completed:
            _check_complete(rv, store.countermeasures(inc.id))
            rv = replace(rv, completed_at=now, completed_by=actor)
        store.put_review(conn, rv)
    trail.record(
        store.home,
        "incident.review",
        {
            "incident": inc.id,
            "cause": rv.cause,
            "impact": rv.impact,
            "recurrence": None if rv.recurrence is None else rv.recurrence.value,
            "recurrence_reason": rv.recurrence_reason,
            "past": [f"{p.kind}:{p.ref}" for p in rv.past.items],
            "past_complete": rv.past.complete,
            "completed": rv.completed,
        },
        actor=actor,
        at=now,
        done=f"the review of {inc.id} was saved",
    )
    return rv


def _check_complete(rv: Review, cms: list[Countermeasure]) -> None:
    missing = [
        name
        for name, ok in (
            ("--cause", rv.cause),
            ("--impact", rv.impact),
            ("--recurrence", rv.recurrence),
            ("--recurrence-reason", rv.recurrence_reason),
        )
        if not ok
    ]
    if missing:
        raise IncidentsError(
            f"the review of {rv.incident_id} cannot be completed without {', '.join(missing)}",
            hint="give them (with --complete, or before it)",
        )
    if rv.recurrence in (Level.HIGH, Level.MEDIUM) and not cms:
        raise IncidentsError(
            f"{rv.incident_id} may recur ({rv.recurrence.value}): FLT-2 asks for a permanent "
            "countermeasure",
            hint=f"add one: `mamori incidents countermeasure add {rv.incident_id} --text … "
            "--owner … --due YYYY-MM-DD`",
        )


def get_review(store: IncidentStore, incident_id: str) -> Review | None:
    return store.review(store.get(incident_id).id)


def add_countermeasure(
    store: IncidentStore,
    incident_id: str,
    *,
    text: str,
    owner: str,
    due: dt.date,
    actor: str,
    now: dt.datetime,
) -> Countermeasure:
    """A permanent countermeasure to track (open until done)."""
    text, owner, actor = text.strip(), owner.strip(), actor.strip()
    for value, what in ((text, "--text"), (owner, "--owner"), (actor, "--as")):
        if not value:
            raise IncidentsError(f"a countermeasure needs {what}")
    if len(text) > 5000:
        raise IncidentsError("the countermeasure text is too long", hint="keep it to 5,000")
    inc = store.get(incident_id)
    with store.transaction() as conn:
        cm_id = store.add_countermeasure(conn, inc.id, text, owner, due, actor, now)
    cm = store.countermeasure(cm_id)
    _record_cm(store, cm, "added", actor, now)
    return cm


def complete_countermeasure(
    store: IncidentStore,
    cm_id: int,
    *,
    actor: str,
    now: dt.datetime,
    note: str = "",
    incident: str | None = None,
) -> Countermeasure:
    """Mark a countermeasure done (with who and when). With `incident`, the incident being
    worked on: NotFound unless the countermeasure is one of its own."""
    actor = actor.strip()
    if not actor:
        raise IncidentsError("a countermeasure needs --as")
    with store.transaction() as conn:
        cm = store.countermeasure(cm_id)
        if incident is not None and cm.incident_id != (iid := store.get(incident).id):
            raise NotFound(
                f"countermeasure {cm_id} is not one of {iid} (it is one of {cm.incident_id})",
                hint=f"list those of {iid} with `mamori incidents countermeasure list {iid}`",
            )
        if cm.state is CountermeasureState.DONE:
            raise IncidentsError(
                f"countermeasure {cm_id} was already done on {iso(cm.done_at)} by {cm.done_by}"
            )
        store.finish_countermeasure(conn, cm_id, actor, now, note.strip())
    cm = store.countermeasure(cm_id)
    _record_cm(store, cm, "done", actor, now)
    return cm


def _record_cm(
    store: IncidentStore, cm: Countermeasure, what: str, actor: str, now: dt.datetime
) -> None:
    trail.record(
        store.home,
        "incident.countermeasure",
        {
            "incident": cm.incident_id,
            "countermeasure": cm.id,
            "change": what,
            "text": cm.text,
            "owner": cm.owner,
            "due": cm.due.isoformat(),
            "state": cm.state.value,
            "note": cm.note,
        },
        actor=actor,
        at=now,
        done=f"countermeasure {cm.id} of {cm.incident_id} was {what}",
    )


def countermeasures(store: IncidentStore, incident_id: str | None = None) -> list[Countermeasure]:
    iid: IncidentId | None = None if incident_id is None else store.get(incident_id).id
    return store.countermeasures(iid)


def overdue_countermeasures(store: IncidentStore, today: dt.date) -> list[Countermeasure]:
    """Open countermeasures whose due date is before `today` (in the calendar zone)."""
    return [c for c in store.countermeasures(state=CountermeasureState.OPEN) if c.overdue(today)]
