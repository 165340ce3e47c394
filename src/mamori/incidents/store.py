"""HOME/incidents.db: incidents, their steps, alerts, CSIRT messages, reviews, countermeasures.

SQLite (mode 0600, WAL, synchronous=FULL), every value a bound parameter. Changes are made in
:meth:`IncidentStore.transaction` (BEGIN IMMEDIATE: one writer at a time, so an incident read,
checked against the workflow and written cannot change in between). This module only stores
and loads; :mod:`mamori.incidents.service` decides what may change and records the audit events.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar, Final, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from mamori.fsutil import open_private_sqlite
from mamori.home import Home
from mamori.incidents.errors import IncidentsError, NotFound, StoreUnavailable
from mamori.incidents.model import (
    AlertId,
    AlertRef,
    BreachDetails,
    Category,
    Countermeasure,
    CountermeasureState,
    CsirtMessage,
    Incident,
    IncidentId,
    Level,
    PastOccurrence,
    PastOccurrences,
    Priority,
    ReportKind,
    Review,
    Stage,
    Step,
    StepKind,
    iso,
    parse_iso,
    parse_iso_opt,
)
from mamori.incidents.settings import IncidentsConfig

DB_NAME: Final = "incidents.db"

SCHEMA = """
CREATE TABLE IF NOT EXISTS counters(
    kind TEXT NOT NULL, year INTEGER NOT NULL, last INTEGER NOT NULL,
    PRIMARY KEY(kind, year)
);
CREATE TABLE IF NOT EXISTS incidents(
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    description TEXT NOT NULL,
    category TEXT NOT NULL,
    urgency TEXT NOT NULL,
    impact TEXT NOT NULL,
    priority TEXT NOT NULL,
    assignee TEXT,
    detected_at TEXT NOT NULL,
    occurred_at TEXT,
    created_at TEXT NOT NULL,
    created_by TEXT NOT NULL,
    stage TEXT NOT NULL,
    hosts TEXT NOT NULL,
    users TEXT NOT NULL,
    breach TEXT,
    merged_into TEXT
);
CREATE TABLE IF NOT EXISTS steps(
    incident_id TEXT NOT NULL REFERENCES incidents(id),
    seq INTEGER NOT NULL,
    kind TEXT NOT NULL,
    stage TEXT NOT NULL,
    actor TEXT NOT NULL,
    at TEXT NOT NULL,
    note TEXT NOT NULL,
    reason TEXT NOT NULL,
    PRIMARY KEY(incident_id, seq)
);
CREATE TABLE IF NOT EXISTS incident_alerts(
    alert_id TEXT PRIMARY KEY,
    incident_id TEXT NOT NULL REFERENCES incidents(id),
    alert TEXT NOT NULL,
    linked_at TEXT NOT NULL,
    linked_by TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS incident_alerts_incident ON incident_alerts(incident_id);
CREATE TABLE IF NOT EXISTS csirt_messages(
    incident_id TEXT NOT NULL REFERENCES incidents(id),
    number INTEGER NOT NULL,
    kind TEXT NOT NULL,
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    to_addrs TEXT NOT NULL,
    cc_addrs TEXT NOT NULL,
    sent_at TEXT NOT NULL,
    actor TEXT NOT NULL,
    PRIMARY KEY(incident_id, number)
);
CREATE TABLE IF NOT EXISTS reviews(
    incident_id TEXT PRIMARY KEY REFERENCES incidents(id),
    cause TEXT NOT NULL,
    impact TEXT NOT NULL,
    recurrence TEXT,
    recurrence_reason TEXT NOT NULL,
    past TEXT NOT NULL,
    completed_at TEXT,
    completed_by TEXT,
    updated_at TEXT,
    updated_by TEXT
);
CREATE TABLE IF NOT EXISTS countermeasures(
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_id TEXT NOT NULL REFERENCES incidents(id),
    text TEXT NOT NULL,
    owner TEXT NOT NULL,
    due TEXT NOT NULL,
    state TEXT NOT NULL,
    created_at TEXT NOT NULL,
    created_by TEXT NOT NULL,
    done_at TEXT,
    done_by TEXT,
    note TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS timer_breaches(
    incident_id TEXT NOT NULL REFERENCES incidents(id),
    timer TEXT NOT NULL,
    due TEXT NOT NULL,
    noted_at TEXT NOT NULL,
    PRIMARY KEY(incident_id, timer, due)
);
"""


def db_path(home: Home) -> Path:
    return home.root / DB_NAME


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def calendar_zone(name: str) -> ZoneInfo:
    """The zone of `[calendar]`: incident years, report dates and month boundaries use it."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as e:
        raise IncidentsError(
            f"[calendar] timezone {name!r} is not a known zone", hint='e.g. "Asia/Tokyo"'
        ) from e


def open_db(path: Path, schema: str) -> sqlite3.Connection:
    """One of this package's databases, created private (0600)."""
    try:
        return open_private_sqlite(path, schema)
    except (OSError, sqlite3.Error) as e:
        raise db_error(path, e) from e


def db_error(path: Path, e: Exception) -> StoreUnavailable:
    """The error of a database that cannot be used (not a refusal: nothing was changed)."""
    reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
    return StoreUnavailable(
        f"cannot use {path}: {reason}",
        hint="check that the home is writable by this user and the disk not full",
    )


class Database:
    """One of this package's databases (`DB_NAME` in the home, `SCHEMA`), with the
    configuration its records are judged by and transactions that turn SQLite errors into
    :class:`~mamori.incidents.errors.StoreUnavailable`."""

    DB_NAME: ClassVar[str]
    SCHEMA: ClassVar[str]

    def __init__(
        self,
        home: Home,
        path: Path,
        conn: sqlite3.Connection,
        config: IncidentsConfig,
        zone: ZoneInfo,
    ) -> None:
        self.home = home
        self.path = path
        self.conn = conn
        self.config = config
        self.zone = zone

    @classmethod
    def open(cls, home: Home) -> Self:
        cfg = home.config()
        zone = calendar_zone(cfg.calendar.timezone)
        path = home.root / cls.DB_NAME
        conn = open_db(path, cls.SCHEMA)
        conn.row_factory = sqlite3.Row
        return cls(home, path, conn, cfg.incidents, zone)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.conn.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE … COMMIT; rolled back on any error, a SQLite one raised as
        StoreUnavailable."""
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as e:
            raise db_error(self.path, e) from e
        try:
            yield self.conn
            self.conn.execute("COMMIT")
        except sqlite3.Error as e:
            self._rollback()
            raise db_error(self.path, e) from e
        except BaseException:
            self._rollback()
            raise

    def _rollback(self) -> None:
        if self.conn.in_transaction:
            self.conn.execute("ROLLBACK")

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        try:
            return list(self.conn.execute(sql, tuple(params)).fetchall())
        except sqlite3.Error as e:
            raise db_error(self.path, e) from e

    def next_number(self, conn: sqlite3.Connection, kind: str, year: int) -> int:
        """The next number of `kind` in `year` (inside a transaction)."""
        conn.execute(
            "INSERT INTO counters(kind, year, last) VALUES (?, ?, 0) "
            "ON CONFLICT(kind, year) DO NOTHING",
            (kind, year),
        )
        conn.execute(
            "UPDATE counters SET last = last + 1 WHERE kind = ? AND year = ?", (kind, year)
        )
        (n,) = conn.execute(
            "SELECT last FROM counters WHERE kind = ? AND year = ?", (kind, year)
        ).fetchone()
        return int(n)


_EDITABLE: Final = (
    "title", "description", "category", "urgency", "impact", "priority", "assignee",
    "detected_at", "occurred_at", "hosts", "users", "breach", "merged_into",
)  # fmt: skip
"""The columns of an incident that a change may write (:meth:`IncidentStore.set_fields`)."""


def _editable(inc: Incident) -> tuple[Any, ...]:
    """The values of :data:`_EDITABLE`, in its order."""
    return (
        inc.title,
        inc.description,
        inc.category.value,
        inc.urgency.value,
        inc.impact.value,
        inc.priority.value,
        inc.assignee,
        iso(inc.detected_at),
        iso(inc.occurred_at),
        dumps(list(inc.hosts)),
        dumps(list(inc.users)),
        None if inc.breach is None else dumps(inc.breach.as_json()),
        inc.merged_into,
    )


class IncidentStore(Database):
    """HOME/incidents.db, with the configuration its incidents are judged by."""

    DB_NAME = DB_NAME
    SCHEMA = SCHEMA

    # ------------------------------------------------------------------ incidents

    def new_id(self, conn: sqlite3.Connection, detected_at: dt.datetime) -> IncidentId:
        year = detected_at.astimezone(self.zone).year
        return IncidentId(f"INC-{year}-{self.next_number(conn, 'incident', year):04d}")

    def find(self, incident_id: str) -> Incident | None:
        rows = self.rows("SELECT * FROM incidents WHERE id = ?", (incident_id.upper(),))
        return self._incident(rows[0]) if rows else None

    def get(self, incident_id: str) -> Incident:
        found = self.find(incident_id)
        if found is None:
            raise NotFound(
                f"there is no incident {incident_id}",
                hint="list them with `mamori incidents list --all`",
            )
        return found

    def incidents(self, *, include_closed: bool = False, limit: int = 1000) -> list[Incident]:
        where = "" if include_closed else "WHERE stage != 'closed'"
        rows = self.rows(
            f"SELECT * FROM incidents {where} ORDER BY detected_at DESC, id DESC LIMIT ?",  # noqa: S608 - constant fragments only
            (limit,),
        )
        return [self._incident(r) for r in rows]

    def insert(self, conn: sqlite3.Connection, inc: Incident) -> None:
        columns = ("id", "created_at", "created_by", "stage", *_EDITABLE)
        conn.execute(
            f"INSERT INTO incidents({', '.join(columns)}) "  # noqa: S608 - constant column names
            f"VALUES ({', '.join('?' * len(columns))})",
            (inc.id, iso(inc.created_at), inc.created_by, inc.stage.value, *_editable(inc)),
        )
        self.add_steps(conn, inc.id, inc.steps, inc.stage)

    def add_steps(
        self, conn: sqlite3.Connection, incident_id: IncidentId, steps: Sequence[Step], stage: Stage
    ) -> None:
        conn.executemany(
            "INSERT INTO steps(incident_id, seq, kind, stage, actor, at, note, reason) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (incident_id, s.seq, s.kind.value, s.stage.value, s.actor, iso(s.at), s.note,
                 s.reason)
                for s in steps
            ],
        )  # fmt: skip
        conn.execute("UPDATE incidents SET stage = ? WHERE id = ?", (stage.value, incident_id))

    def set_fields(self, conn: sqlite3.Connection, incident_id: IncidentId, inc: Incident) -> None:
        """Write the editable fields of `inc` (title … breach, merged_into)."""
        conn.execute(
            f"UPDATE incidents SET {', '.join(f'{c} = ?' for c in _EDITABLE)} "  # noqa: S608 - constant column names
            "WHERE id = ?",
            (*_editable(inc), incident_id),
        )

    def link_alert(
        self,
        conn: sqlite3.Connection,
        incident_id: IncidentId,
        alert: AlertRef,
        actor: str,
        at: dt.datetime,
    ) -> None:
        conn.execute(
            "INSERT INTO incident_alerts(alert_id, incident_id, alert, linked_at, linked_by) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT(alert_id) DO UPDATE SET "
            "incident_id = excluded.incident_id, linked_at = excluded.linked_at, "
            "linked_by = excluded.linked_by",
            (alert.id, incident_id, dumps(alert.as_json()), iso(at), actor),
        )

    def incident_of_alert(self, alert_id: str) -> IncidentId | None:
        rows = self.rows("SELECT incident_id FROM incident_alerts WHERE alert_id = ?", (alert_id,))
        return IncidentId(rows[0][0]) if rows else None

    def move_alerts(
        self,
        conn: sqlite3.Connection,
        from_id: IncidentId,
        to_id: IncidentId,
        actor: str,
        at: dt.datetime,
    ) -> None:
        """Every alert of `from_id` now belongs to `to_id` (a merge), linked by `actor` at `at`."""
        conn.execute(
            "UPDATE incident_alerts SET incident_id = ?, linked_at = ?, linked_by = ? "
            "WHERE incident_id = ?",
            (to_id, iso(at), actor, from_id),
        )

    def _incident(self, r: sqlite3.Row) -> Incident:
        iid = IncidentId(r["id"])
        steps = tuple(
            Step(
                seq=int(s["seq"]),
                kind=StepKind(s["kind"]),
                stage=Stage(s["stage"]),
                actor=s["actor"],
                at=parse_iso(s["at"]),
                note=s["note"],
                reason=s["reason"],
            )
            for s in self.rows("SELECT * FROM steps WHERE incident_id = ? ORDER BY seq", (iid,))
        )
        alerts = tuple(
            _alert(json.loads(a["alert"]))
            for a in self.rows(
                "SELECT alert FROM incident_alerts WHERE incident_id = ? ORDER BY linked_at, rowid",
                (iid,),
            )
        )
        sent = tuple(
            parse_iso(m["sent_at"])
            for m in self.rows(
                "SELECT sent_at FROM csirt_messages WHERE incident_id = ? ORDER BY number", (iid,)
            )
        )
        reviewed = self.rows(
            "SELECT 1 FROM reviews WHERE incident_id = ? AND completed_at IS NOT NULL", (iid,)
        )
        priority = Priority(r["priority"])
        return Incident(
            id=iid,
            title=r["title"],
            description=r["description"],
            category=Category(r["category"]),
            urgency=Level(r["urgency"]),
            impact=Level(r["impact"]),
            priority=priority,
            assignee=r["assignee"],
            detected_at=parse_iso(r["detected_at"]),
            occurred_at=parse_iso_opt(r["occurred_at"]),
            created_at=parse_iso(r["created_at"]),
            created_by=r["created_by"],
            stage=Stage(r["stage"]),
            steps=steps,
            targets=self.config.targets_for(priority),
            alerts=alerts,
            hosts=tuple(json.loads(r["hosts"])),
            users=tuple(json.loads(r["users"])),
            breach=None if r["breach"] is None else _breach(json.loads(r["breach"])),
            breach_report_minutes=self.config.breach_report_minutes,
            merged_into=None if r["merged_into"] is None else IncidentId(r["merged_into"]),
            csirt_sent=sent,
            review_completed=bool(reviewed),
        )

    def merged_from(self, incident_id: IncidentId) -> list[IncidentId]:
        rows = self.rows(
            "SELECT id FROM incidents WHERE merged_into = ? ORDER BY id", (incident_id,)
        )
        return [IncidentId(r[0]) for r in rows]

    # ------------------------------------------------------------------ CSIRT messages

    def messages(self, incident_id: IncidentId) -> list[CsirtMessage]:
        return [
            CsirtMessage(
                incident_id=IncidentId(m["incident_id"]),
                number=int(m["number"]),
                kind=ReportKind(m["kind"]),
                subject=m["subject"],
                body=m["body"],
                to=tuple(json.loads(m["to_addrs"])),
                cc=tuple(json.loads(m["cc_addrs"])),
                sent_at=parse_iso(m["sent_at"]),
                actor=m["actor"],
            )
            for m in self.rows(
                "SELECT * FROM csirt_messages WHERE incident_id = ? ORDER BY number",
                (incident_id,),
            )
        ]

    def add_message(self, conn: sqlite3.Connection, m: CsirtMessage) -> None:
        conn.execute(
            "INSERT INTO csirt_messages(incident_id, number, kind, subject, body, to_addrs, "
            "cc_addrs, sent_at, actor) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                m.incident_id,
                m.number,
                m.kind.value,
                m.subject,
                m.body,
                dumps(list(m.to)),
                dumps(list(m.cc)),
                iso(m.sent_at),
                m.actor,
            ),
        )

    # ------------------------------------------------------------------ reviews

    def review(self, incident_id: IncidentId) -> Review | None:
        rows = self.rows("SELECT * FROM reviews WHERE incident_id = ?", (incident_id,))
        if not rows:
            return None
        r = rows[0]
        past = json.loads(r["past"])
        return Review(
            incident_id=incident_id,
            cause=r["cause"],
            impact=r["impact"],
            recurrence=None if r["recurrence"] is None else Level(r["recurrence"]),
            recurrence_reason=r["recurrence_reason"],
            past=PastOccurrences(
                items=tuple(_past(p) for p in past["items"]),
                complete=bool(past["complete"]),
                problem=str(past["problem"]),
            ),
            completed_at=parse_iso_opt(r["completed_at"]),
            completed_by=r["completed_by"],
            updated_at=parse_iso_opt(r["updated_at"]),
            updated_by=r["updated_by"],
        )

    def put_review(self, conn: sqlite3.Connection, rv: Review) -> None:
        conn.execute(
            "INSERT OR REPLACE INTO reviews(incident_id, cause, impact, recurrence, "
            "recurrence_reason, past, completed_at, completed_by, updated_at, updated_by) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                rv.incident_id,
                rv.cause,
                rv.impact,
                None if rv.recurrence is None else rv.recurrence.value,
                rv.recurrence_reason,
                dumps(rv.past.as_json()),
                iso(rv.completed_at),
                rv.completed_by,
                iso(rv.updated_at),
                rv.updated_by,
            ),
        )

    # ------------------------------------------------------------------ countermeasures

    def countermeasures(
        self, incident_id: IncidentId | None = None, *, state: CountermeasureState | None = None
    ) -> list[Countermeasure]:
        clauses: list[str] = []
        params: list[Any] = []
        if incident_id is not None:
            clauses.append("incident_id = ?")
            params.append(incident_id)
        if state is not None:
            clauses.append("state = ?")
            params.append(state.value)
        where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
        return [
            _countermeasure(r)
            for r in self.rows(
                f"SELECT * FROM countermeasures {where} ORDER BY due, id",  # noqa: S608 - constant fragments only
                params,
            )
        ]

    def countermeasure(self, cm_id: int) -> Countermeasure:
        rows = self.rows("SELECT * FROM countermeasures WHERE id = ?", (cm_id,))
        if not rows:
            raise NotFound(
                f"there is no countermeasure {cm_id}",
                hint="list them with `mamori incidents countermeasure list`",
            )
        return _countermeasure(rows[0])

    def add_countermeasure(
        self,
        conn: sqlite3.Connection,
        incident_id: IncidentId,
        text: str,
        owner: str,
        due: dt.date,
        actor: str,
        at: dt.datetime,
    ) -> int:
        cur = conn.execute(
            "INSERT INTO countermeasures(incident_id, text, owner, due, state, created_at, "
            "created_by, note) VALUES (?, ?, ?, ?, 'open', ?, ?, '')",
            (incident_id, text, owner, due.isoformat(), iso(at), actor),
        )
        assert cur.lastrowid is not None
        return int(cur.lastrowid)

    def finish_countermeasure(
        self, conn: sqlite3.Connection, cm_id: int, actor: str, at: dt.datetime, note: str
    ) -> None:
        conn.execute(
            "UPDATE countermeasures SET state = 'done', done_at = ?, done_by = ?, note = ? "
            "WHERE id = ?",
            (iso(at), actor, note, cm_id),
        )

    # ------------------------------------------------------------------ breaches noted

    def note_breach(
        self,
        conn: sqlite3.Connection,
        incident_id: IncidentId,
        timer: str,
        due: dt.datetime,
        at: dt.datetime,
    ) -> bool:
        """Remember that a timer was seen breached; False when it already was."""
        cur = conn.execute(
            "INSERT OR IGNORE INTO timer_breaches(incident_id, timer, due, noted_at) "
            "VALUES (?, ?, ?, ?)",
            (incident_id, timer, iso(due), iso(at)),
        )
        return cur.rowcount == 1

    def breaches_noted(self, incident_id: IncidentId) -> list[tuple[str, dt.datetime]]:
        return [
            (r["timer"], parse_iso(r["noted_at"]))
            for r in self.rows(
                "SELECT timer, noted_at FROM timer_breaches WHERE incident_id = ? "
                "ORDER BY noted_at",
                (incident_id,),
            )
        ]


def _alert(d: dict[str, Any]) -> AlertRef:
    return AlertRef(
        id=AlertId(str(d["id"])),
        rule=d["rule"],
        title=d["title"],
        severity=d["severity"],
        summary=d.get("summary", ""),
        clauses=tuple(d.get("clauses", ())),
        events=tuple(int(i) for i in d.get("events", ())),
        group=tuple((str(k), str(v)) for k, v in d.get("group", ())),
        first_seen=parse_iso_opt(d.get("first_seen")),
        last_seen=parse_iso_opt(d.get("last_seen")),
    )


def _breach(d: dict[str, Any]) -> BreachDetails:
    n = d.get("persons_affected")
    return BreachDetails(
        what_happened=d["what_happened"],
        damage=d["damage"],
        containment=d["containment"],
        recovery=d["recovery"],
        persons_response=d["persons_response"],
        persons_affected=None if n is None else int(n),
        data_items=tuple(d.get("data_items", ())),
        recognised_at=parse_iso(d["recognised_at"]),
    )


def _past(d: dict[str, Any]) -> PastOccurrence:
    return PastOccurrence(
        kind=d["kind"],
        ref=d["ref"],
        when=parse_iso_opt(d.get("when")),
        matched=tuple(d.get("matched", ())),
        summary=d.get("summary", ""),
        link=d.get("link", ""),
    )


def _countermeasure(r: sqlite3.Row) -> Countermeasure:
    return Countermeasure(
        id=int(r["id"]),
        incident_id=IncidentId(r["incident_id"]),
        text=r["text"],
        owner=r["owner"],
        due=dt.date.fromisoformat(r["due"]),
        state=CountermeasureState(r["state"]),
        created_at=parse_iso(r["created_at"]),
        created_by=r["created_by"],
        done_at=parse_iso_opt(r["done_at"]),
        done_by=r["done_by"],
        note=r["note"],
    )
