"""TEST ONLY — a deliberately vulnerable web application, the target of sqlmap in
tests/dbguard/test_sqlmap.py. Never use this code for anything else.

It pastes request parameters into SQL (string building: that is the point) and runs the text
with psycopg's simple protocol through the database guard's proxy, so that the proxy sees what a
real injectable application sends. It binds to 127.0.0.1 only.

Endpoints, each with its own connections and ``application_name`` (``vulnapp-item`` …, so that
the firewall's allowlist and the measurements are per endpoint):

* ``/item?id=1``: numeric concatenation, ``… WHERE id = {id}``;
* ``/search?q=pen``: string concatenation into LIKE, ``… WHERE name LIKE '%{q}%'``;
* ``/sort?col=name``: ORDER BY injection, ``… ORDER BY {col}``.

A page lists the rows (every column, so UNION injection shows), a database error answers 500 with
the server's message (so error-based injection works), as careless applications do.
"""

from __future__ import annotations

import contextlib
import html
import queue
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Final
from urllib.parse import parse_qs, urlsplit

import psycopg

SCHEMA: Final = """
DROP TABLE IF EXISTS vuln_items, vuln_users;
CREATE TABLE vuln_items(id int PRIMARY KEY, name text NOT NULL, price numeric(8, 2) NOT NULL);
CREATE TABLE vuln_users(id int PRIMARY KEY, login text NOT NULL, password text NOT NULL);
INSERT INTO vuln_items
    SELECT i, (ARRAY['pen', 'pencil', 'paper', 'stapler', 'eraser'])[1 + i % 5] || ' ' || i,
           1 + i * 0.25
    FROM generate_series(1, 40) AS i;
INSERT INTO vuln_users VALUES (1, 'admin', 'hunter2'), (2, 'clerk', 'correct horse');
"""
"""The application's tables (run straight on the server by the test, as the owner)."""

ENDPOINTS: Final = ("item", "search", "sort")
SORT_COLUMNS: Final = ("id", "name", "price")
SEARCH_WORDS: Final = ("pen", "pencil", "paper", "stapler", "eraser", "1", "2", "zzz", "")


def statement(endpoint: str, value: str) -> str:
    """The SQL the endpoint runs for the parameter's value (vulnerable on purpose)."""
    if endpoint == "item":
        return f"SELECT id, name, price FROM vuln_items WHERE id = {value}"  # injectable on purpose
    if endpoint == "search":
        return f"SELECT id, name, price FROM vuln_items WHERE name LIKE '%{value}%' ORDER BY id"  # injectable on purpose
    if endpoint == "sort":
        return f"SELECT id, name, price FROM vuln_items ORDER BY {value}"  # injectable on purpose
    raise KeyError(endpoint)


PARAMETER: Final = {"item": "id", "search": "q", "sort": "col"}
"""The injectable query parameter of each endpoint."""


def benign_paths() -> list[str]:
    """What ordinary users request: the firewall learns these in ``learn`` mode, and
    ``enforce`` must answer every one of them."""
    paths = [f"/item?id={i}" for i in range(1, 45)]
    paths += [f"/search?q={w}" for w in SEARCH_WORDS]
    paths += [f"/sort?col={c}" for c in SORT_COLUMNS]
    return paths


@dataclass
class Served:
    """What the application answered: per endpoint and status, a count; the errors seen."""

    counts: Counter[tuple[str, int]] = field(default_factory=Counter)
    errors: list[tuple[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, endpoint: str, status: int, error: str = "") -> None:
        with self.lock:
            self.counts[(endpoint, status)] += 1
            if error:
                self.errors.append((endpoint, error))

    def clear(self) -> None:
        with self.lock:
            self.counts.clear()
            self.errors.clear()


class Pool:
    """A few autocommit psycopg connections to one DSN, reused across requests."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self._idle: queue.LifoQueue[psycopg.Connection[tuple[object, ...]]] = queue.LifoQueue()
        self._all: list[psycopg.Connection[tuple[object, ...]]] = []
        self._lock = threading.Lock()
        self.closed = False

    @contextlib.contextmanager
    def connection(self) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
        try:
            conn = self._idle.get_nowait()
        except queue.Empty:
            conn = psycopg.connect(self.dsn, autocommit=True)
            with self._lock:
                self._all.append(conn)
        try:
            yield conn
        finally:
            if conn.closed or self.closed:
                conn.close()
            else:
                self._idle.put(conn)

    def close(self) -> None:
        self.closed = True
        with self._lock:
            conns, self._all = self._all, []
        for conn in conns:
            conn.close()


class VulnApp:
    """The application (see the module docstring): ``start()``, requests at :attr:`url`,
    ``close()``."""

    def __init__(self, dsn_for: Callable[[str], str]) -> None:
        """`dsn_for(application_name)` gives the DSN of the proxy for one endpoint."""
        self.pools = {e: Pool(dsn_for(f"vulnapp-{e}")) for e in ENDPOINTS}
        self.served = Served()
        app = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                app.handle(self)

            def log_message(self, format: str, *args: object) -> None:
                del format, args

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> VulnApp:
        self.thread.start()
        return self

    def close(self) -> None:
        """Stop serving and close every database connection (the proxy's sessions end)."""
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)
        for pool in self.pools.values():
            pool.close()

    def __enter__(self) -> VulnApp:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def handle(self, req: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(req.path)
        endpoint = parts.path.strip("/")
        if endpoint not in self.pools:
            self._answer(req, 404, "<p>not found</p>")
            return
        values = parse_qs(parts.query, keep_blank_values=True).get(PARAMETER[endpoint])
        if not values:
            self.served.add(endpoint, 400)
            self._answer(req, 400, f"<p>{PARAMETER[endpoint]} is required</p>")
            return
        sql = statement(endpoint, values[0])
        try:
            with self.pools[endpoint].connection() as conn:
                rows = conn.execute(sql).fetchall()  # the injection
        except psycopg.Error as e:
            message = str(e).strip()
            self.served.add(endpoint, 500, message)
            self._answer(req, 500, f"<p>database error: {html.escape(message)}</p>")
            return
        self.served.add(endpoint, 200)
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>"
            for row in rows
        )
        self._answer(req, 200, f"<table>{body}</table><p>{len(rows)} rows</p>")

    @staticmethod
    def _answer(req: BaseHTTPRequestHandler, status: int, body: str) -> None:
        data = f"<html><body>{body}</body></html>".encode()
        try:
            req.send_response(status)
            req.send_header("Content-Type", "text/html; charset=utf-8")
            req.send_header("Content-Length", str(len(data)))
            req.end_headers()
            req.wfile.write(data)
        except OSError:
            pass  # the client went away (sqlmap's time-outs)
