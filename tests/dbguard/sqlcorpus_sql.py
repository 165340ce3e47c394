"""Benign corpus, part 3: ordinary hand-written SQL, with realistic values.

Reports (CTEs, window functions, FILTER, generate_series), query builders (``WHERE 1=1 AND``),
optional filters with psycopg2-interpolated values (``(NULL IS NULL OR …)``), job queues
(``FOR UPDATE SKIP LOCKED``), upserts, JSONB, full-text search, advisory locks, row-level
security settings, session settings, transactions sent as one simple Query, migrations
(comments included), EXPLAIN, LISTEN/NOTIFY, cursors, and the like.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator

from tests.dbguard.sqlcorpus import PRODUCTS, STATUSES, WORDS, person, quote, timestamp


def handwritten(rng: random.Random, count: int) -> Iterator[tuple[str, str]]:
    makers = _makers(rng)
    for _ in range(count):
        name, make = rng.choice(makers)
        yield f"sql.{name}", make()


def _makers(rng: random.Random) -> list[tuple[str, Callable[[], str]]]:
    def n(lo: int = 1, hi: int = 100000) -> int:
        return rng.randint(lo, hi)

    def s(v: str) -> str:
        return "'" + quote(v) + "'"

    def day() -> str:
        return s(timestamp(rng)[:10])

    def ts() -> str:
        return s(timestamp(rng))

    def who() -> str:
        return s(person(rng)[0])

    def mail() -> str:
        return s(person(rng)[1])

    def word() -> str:
        return rng.choice(WORDS)

    def builder() -> str:
        where = ["1=1"]
        if rng.random() < 0.7:
            where.append(f"status = {s(rng.choice(STATUSES))}")
        if rng.random() < 0.5:
            where.append(f"placed_at >= {day()}")
        if rng.random() < 0.5:
            where.append(f"total > {n(1, 500)}")
        return f"SELECT id, user_id, total FROM orders WHERE {' AND '.join(where)} ORDER BY placed_at DESC LIMIT 100"

    def optional_filters() -> str:
        name = who() if rng.random() < 0.5 else "NULL"
        city = s(rng.choice(("Lyon", "Osaka", "Lagos"))) if rng.random() < 0.5 else "NULL"
        return (
            "SELECT u.id, u.name FROM users u JOIN addresses a ON a.user_id = u.id "
            f"WHERE ({name} IS NULL OR u.name = {name}) AND ({city} IS NULL OR a.city = {city})"
        )

    def txn() -> str:
        a, b, amount = n(), n(), n(1, 5000)
        return (
            f"BEGIN; UPDATE accounts SET balance = balance - {amount} WHERE id = {a}; "
            f"UPDATE accounts SET balance = balance + {amount} WHERE id = {b}; "
            f"INSERT INTO transfers (src, dst, amount, at) VALUES ({a}, {b}, {amount}, now()); COMMIT;"
        )

    def migration() -> str:
        t = rng.choice(("invoices", "shipments", "coupons", "sessions"))
        return (
            f"-- migration {n(1, 400):04d}: add {t}\n"
            f"CREATE TABLE IF NOT EXISTS {t} (\n"
            "    id bigserial PRIMARY KEY,\n"
            "    owner_id bigint NOT NULL REFERENCES users(id), -- who it belongs to\n"
            "    state text NOT NULL DEFAULT 'new' CHECK (state IN ('new', 'done')),\n"
            "    created_at timestamptz NOT NULL DEFAULT now() /* UTC */\n"
            ");\n"
            f"CREATE INDEX IF NOT EXISTS {t}_owner_idx ON {t} (owner_id);\n"
            f"COMMENT ON TABLE {t} IS 'Created by migration; see ADR-{n(1, 99)}';"
        )

    def report() -> str:
        return (
            "-- monthly revenue per category\n"
            "WITH monthly AS (\n"
            "  SELECT date_trunc('month', o.placed_at) AS month, p.category_id,\n"
            "         sum(oi.quantity * oi.unit_price) AS revenue -- gross\n"
            "  FROM orders o\n"
            "  JOIN order_items oi ON oi.order_id = o.id\n"
            "  JOIN products p ON p.id = oi.product_id\n"
            f"  WHERE o.status <> 'cancelled' AND o.placed_at >= {day()}\n"
            "  GROUP BY 1, 2\n"
            ")\n"
            "SELECT month, category_id, revenue,\n"
            "       revenue - lag(revenue) OVER (PARTITION BY category_id ORDER BY month) AS delta\n"
            "FROM monthly ORDER BY month, category_id"
        )

    return [
        ("builder", builder),
        ("optional_filters", optional_filters),
        ("transaction", txn),
        ("migration", migration),
        ("report", report),
        ("lookup", lambda: f"SELECT * FROM users WHERE email = {mail()}"),
        (
            "lookup",
            lambda: f"SELECT id, name, price FROM products WHERE name = {s(rng.choice(PRODUCTS))}",
        ),
        ("lookup", lambda: f"SELECT * FROM orders WHERE id = {n()} AND user_id = {n()}"),
        (
            "search",
            lambda: (
                f"SELECT id, name FROM products WHERE name ILIKE {s('%' + word() + '%')} ORDER BY name LIMIT 20"
            ),
        ),
        (
            "search",
            lambda: (
                f"SELECT id, title FROM articles WHERE to_tsvector('english', body) @@ plainto_tsquery('english', {s(word() + ' ' + word())}) LIMIT 10"
            ),
        ),
        ("search", lambda: f"SELECT * FROM products WHERE {s(word())} = ANY(keywords)"),
        ("pagination", lambda: f"SELECT id, name FROM users WHERE id > {n()} ORDER BY id LIMIT 50"),
        (
            "pagination",
            lambda: (
                f"SELECT * FROM orders ORDER BY placed_at DESC, id DESC LIMIT 25 OFFSET {25 * n(0, 40)}"
            ),
        ),
        (
            "aggregate",
            lambda: (
                f"SELECT status, count(*), sum(total) FROM orders WHERE placed_at BETWEEN {day()} AND {day()} GROUP BY status"
            ),
        ),
        (
            "aggregate",
            lambda: (
                "SELECT count(*) FILTER (WHERE status = 'paid') AS paid, count(*) FILTER (WHERE status = 'refunded') AS refunded FROM orders"
            ),
        ),
        (
            "aggregate",
            lambda: (
                f"SELECT user_id, count(*) AS n FROM orders GROUP BY user_id HAVING count(*) > {n(2, 30)} ORDER BY n DESC"
            ),
        ),
        (
            "series",
            lambda: (
                f"SELECT d::date, coalesce(count(o.id), 0) FROM generate_series({day()}::date, {day()}::date, interval '1 day') d LEFT JOIN orders o ON o.placed_at::date = d::date GROUP BY 1 ORDER BY 1"
            ),
        ),
        (
            "window",
            lambda: (
                "SELECT id, user_id, total, rank() OVER (PARTITION BY user_id ORDER BY total DESC) FROM orders"
            ),
        ),
        (
            "recursive",
            lambda: (
                f"WITH RECURSIVE tree AS (SELECT id, parent_id, name, 1 AS depth FROM categories WHERE id = {n(1, 40)} UNION ALL SELECT c.id, c.parent_id, c.name, t.depth + 1 FROM categories c JOIN tree t ON c.parent_id = t.id) SELECT * FROM tree ORDER BY depth"
            ),
        ),
        (
            "union_report",
            lambda: (
                f"SELECT id, name, 'customer' AS kind FROM customers WHERE created_at > {day()} UNION ALL SELECT id, name, 'supplier' FROM suppliers WHERE created_at > {day()}"
            ),
        ),
        (
            "union_report",
            lambda: (
                "SELECT 0 AS id, 'All categories' AS name UNION ALL SELECT id, name FROM categories ORDER BY id"
            ),
        ),
        (
            "union_report",
            lambda: (
                "SELECT id, email, NULL AS phone FROM newsletter_subscribers UNION SELECT id, email, phone FROM customers"
            ),
        ),
        (
            "job_queue",
            lambda: (
                "UPDATE jobs SET state = 'running', started_at = now() WHERE id = (SELECT id FROM jobs WHERE state = 'queued' ORDER BY priority DESC, id LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING id, payload"
            ),
        ),
        (
            "job_queue",
            lambda: (
                f"INSERT INTO jobs (kind, payload, state) VALUES ('email', {s(json.dumps({'to': person(rng)[1]}))}::jsonb, 'queued') RETURNING id"
            ),
        ),
        (
            "upsert",
            lambda: (
                f"INSERT INTO page_views (path, day, views) VALUES ({s('/products/' + str(n()))}, {day()}, 1) ON CONFLICT (path, day) DO UPDATE SET views = page_views.views + 1"
            ),
        ),
        (
            "upsert",
            lambda: (
                f"INSERT INTO settings (user_id, key, value) VALUES ({n()}, 'theme', {s(rng.choice(('dark', 'light')))}) ON CONFLICT (user_id, key) DO NOTHING"
            ),
        ),
        (
            "update_from",
            lambda: (
                f"UPDATE orders o SET status = 'shipped' FROM shipments s WHERE s.order_id = o.id AND s.shipped_at < {ts()}"
            ),
        ),
        (
            "delete_using",
            lambda: (
                f"DELETE FROM sessions s USING users u WHERE s.user_id = u.id AND u.is_active = false AND s.created_at < {ts()}"
            ),
        ),
        (
            "delete",
            lambda: f"DELETE FROM sessions WHERE expires_at < now() - interval '{n(1, 30)} days'",
        ),
        (
            "jsonb",
            lambda: (
                f"SELECT id FROM events WHERE payload @> {s(json.dumps({'type': rng.choice(('login', 'logout'))}))}::jsonb AND payload->>'user' = {s(str(n()))}"
            ),
        ),
        (
            "jsonb",
            lambda: (
                "SELECT jsonb_build_object('id', id, 'name', name, 'tags', coalesce(tags, '[]'::jsonb)) FROM products LIMIT 100"
            ),
        ),
        (
            "exists",
            lambda: (
                f"SELECT u.id FROM users u WHERE NOT EXISTS (SELECT 1 FROM orders o WHERE o.user_id = u.id AND o.placed_at > {day()})"
            ),
        ),
        (
            "subquery",
            lambda: (
                "SELECT * FROM products WHERE price > (SELECT avg(price) FROM products) ORDER BY price DESC LIMIT 10"
            ),
        ),
        (
            "subquery",
            lambda: (
                f"SELECT name FROM users WHERE id IN (SELECT user_id FROM orders WHERE total > {n(50, 900)})"
            ),
        ),
        (
            "case",
            lambda: (
                "SELECT id, CASE WHEN total >= 1000 THEN 'gold' WHEN total >= 100 THEN 'silver' ELSE 'bronze' END AS tier FROM orders"
            ),
        ),
        (
            "case",
            lambda: (
                f"SELECT id, name FROM products ORDER BY CASE WHEN category_id = {n(1, 40)} THEN 0 ELSE 1 END, name"
            ),
        ),
        ("sampling", lambda: "SELECT id FROM events WHERE random() < 0.01"),
        ("sampling", lambda: "SELECT * FROM events TABLESAMPLE SYSTEM (1)"),
        (
            "schema_probe",
            lambda: f"SELECT * FROM {rng.choice(('users', 'orders', 'products'))} WHERE 1=0",
        ),
        ("schema_probe", lambda: "SELECT * FROM orders LIMIT 0"),
        (
            "lateral",
            lambda: (
                "SELECT u.id, last.placed_at FROM users u LEFT JOIN LATERAL (SELECT placed_at FROM orders o WHERE o.user_id = u.id ORDER BY placed_at DESC LIMIT 1) last ON true"
            ),
        ),
        (
            "cross_join",
            lambda: "SELECT p.id, c.code FROM products p CROSS JOIN currencies c WHERE c.active",
        ),
        ("locks", lambda: f"SELECT pg_try_advisory_xact_lock({n()})"),
        ("locks", lambda: f"SELECT pg_advisory_unlock({n()})"),
        ("rls", lambda: f"SELECT set_config('app.tenant_id', {s(str(n(1, 500)))}, true)"),
        ("rls", lambda: f"SET LOCAL app.user_id = {s(str(n()))}"),
        (
            "session",
            lambda: rng.choice(
                (
                    "SET statement_timeout = '5s'",
                    "SET search_path TO app, public",
                    "SET TIME ZONE 'UTC'",
                    "SET application_name = 'billing-worker'",
                    "RESET ALL",
                    "DISCARD ALL",
                    "SHOW server_version",
                    "SHOW TRANSACTION ISOLATION LEVEL",
                )
            ),
        ),
        (
            "session",
            lambda: rng.choice(
                (
                    "SELECT 1",
                    "select 1",
                    "SELECT version()",
                    "SELECT current_user",
                    "SELECT current_database(), current_schema()",
                    "SELECT now()",
                    "SELECT pg_backend_pid()",
                    "SELECT nextval('orders_id_seq')",
                )
            ),
        ),
        (
            "transaction",
            lambda: rng.choice(
                (
                    "BEGIN",
                    "COMMIT",
                    "ROLLBACK",
                    "BEGIN ISOLATION LEVEL SERIALIZABLE",
                    "SAVEPOINT sp1",
                    "RELEASE SAVEPOINT sp1",
                    "ROLLBACK TO SAVEPOINT sp1",
                    "START TRANSACTION READ ONLY",
                )
            ),
        ),
        (
            "transaction",
            lambda: f"BEGIN; SELECT balance FROM accounts WHERE id = {n()} FOR UPDATE; COMMIT;",
        ),
        (
            "explain",
            lambda: f"EXPLAIN (ANALYZE, BUFFERS) SELECT * FROM orders WHERE user_id = {n()}",
        ),
        ("notify", lambda: f"NOTIFY cache_invalidation, {s('products:' + str(n()))}"),
        ("notify", lambda: "LISTEN cache_invalidation"),
        ("cursor", lambda: f"DECLARE c1 CURSOR FOR SELECT * FROM events WHERE created_at > {ts()}"),
        ("cursor", lambda: "FETCH 1000 FROM c1"),
        ("prepared", lambda: "PREPARE get_user (bigint) AS SELECT * FROM users WHERE id = $1"),
        ("prepared", lambda: f"EXECUTE get_user({n()})"),
        (
            "copy",
            lambda: "COPY orders (id, user_id, total) FROM STDIN WITH (FORMAT csv, HEADER true)",
        ),
        (
            "copy",
            lambda: (
                f"COPY (SELECT * FROM orders WHERE placed_at > {day()}) TO STDOUT WITH CSV HEADER"
            ),
        ),
        ("ddl", lambda: f"ALTER TABLE orders ADD COLUMN IF NOT EXISTS note_{n(1, 99)} text"),
        (
            "ddl",
            lambda: (
                "CREATE INDEX CONCURRENTLY IF NOT EXISTS orders_placed_at_idx ON orders (placed_at)"
            ),
        ),
        ("ddl", lambda: "CREATE EXTENSION IF NOT EXISTS pgcrypto"),
        (
            "ddl",
            lambda: (
                "CREATE OR REPLACE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.updated_at := now(); RETURN NEW; END $$"
            ),
        ),
        (
            "ddl",
            lambda: (
                "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_type WHERE typname = 'mood') THEN CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy'); END IF; END $$"
            ),
        ),
        (
            "ddl",
            lambda: (
                "CREATE MATERIALIZED VIEW IF NOT EXISTS daily_sales AS SELECT placed_at::date AS day, sum(total) FROM orders GROUP BY 1"
            ),
        ),
        ("ddl", lambda: "REFRESH MATERIALIZED VIEW CONCURRENTLY daily_sales"),
        (
            "maintenance",
            lambda: rng.choice(
                (
                    "VACUUM (ANALYZE) orders",
                    "ANALYZE users",
                    "REINDEX INDEX CONCURRENTLY orders_placed_at_idx",
                    "CHECKPOINT",
                )
            ),
        ),
        (
            "insert",
            lambda: (
                f"INSERT INTO users (name, email, created_at) VALUES ({who()}, {mail()}, {ts()}) RETURNING id"
            ),
        ),
        (
            "insert",
            lambda: (
                f"INSERT INTO reviews (product_id, author, body, stars) VALUES ({n()}, {who()}, {s(rng.choice(('Great -- would buy again', 'Meh. 1=1 stars', 'OR else!', 'Select this one', 'Drop everything and buy it', 'Works /* mostly */')))}, {n(1, 5)})"
            ),
        ),
        (
            "update",
            lambda: (
                f"UPDATE users SET last_login = now(), login_count = login_count + 1 WHERE id = {n()}"
            ),
        ),
        (
            "tagged",
            lambda: (
                f"/* service=billing route=/invoices/{n()} */ SELECT * FROM invoices WHERE id = {n()}"
            ),
        ),
        (
            "tagged",
            lambda: (
                f"SELECT * FROM invoices WHERE customer_id = {n()} /*controller='invoices',action='index',framework='rails'*/"
            ),
        ),
        (
            "tagged",
            lambda: (
                f"SELECT /*+ IndexScan(orders orders_user_id_idx) */ * FROM orders WHERE user_id = {n()}"
            ),
        ),
        (
            "multiline",
            lambda: (
                f"SELECT o.id,\n       o.total -- incl. VAT\n  FROM orders o\n WHERE o.user_id = {n()}\n   -- only live ones\n   AND o.status <> 'cancelled'"
            ),
        ),
        (
            "psql_script",
            lambda: f"SELECT count(*) FROM orders WHERE placed_at > {day()}; -- sanity check",
        ),
        (
            "time",
            lambda: (
                "SELECT id FROM subscriptions WHERE expires_at < now() + interval '3 days' AND NOT notified"
            ),
        ),
        (
            "time",
            lambda: (
                f"SELECT * FROM bookings WHERE tstzrange(starts_at, ends_at) && tstzrange({ts()}, {ts()})"
            ),
        ),
        (
            "arrays",
            lambda: (
                f"SELECT * FROM users WHERE id = ANY(ARRAY[{', '.join(str(n()) for _ in range(rng.randint(1, 8)))}])"
            ),
        ),
        (
            "values",
            lambda: (
                f"SELECT v.id, v.name FROM (VALUES ({n()}, {who()}), ({n()}, {who()})) AS v(id, name)"
            ),
        ),
        (
            "values",
            lambda: (
                f"INSERT INTO tags (label) SELECT x FROM unnest(ARRAY[{s(word())}, {s(word())}]) AS x ON CONFLICT DO NOTHING"
            ),
        ),
        (
            "merge",
            lambda: (
                "MERGE INTO stock s USING incoming i ON s.sku = i.sku WHEN MATCHED THEN UPDATE SET qty = s.qty + i.qty WHEN NOT MATCHED THEN INSERT (sku, qty) VALUES (i.sku, i.qty)"
            ),
        ),
        (
            "monitoring",
            lambda: (
                "SELECT pid, state, wait_event, now() - query_start AS runtime FROM pg_stat_activity WHERE state <> 'idle' ORDER BY runtime DESC"
            ),
        ),
        (
            "monitoring",
            lambda: (
                "SELECT relname, n_live_tup, n_dead_tup, last_autovacuum FROM pg_stat_user_tables ORDER BY n_dead_tup DESC LIMIT 20"
            ),
        ),
        (
            "monitoring",
            lambda: (
                "SELECT datname, pg_size_pretty(pg_database_size(datname)) FROM pg_database ORDER BY pg_database_size(datname) DESC"
            ),
        ),
        (
            "monitoring",
            lambda: (
                "SELECT slot_name, active, pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn) AS lag FROM pg_replication_slots"
            ),
        ),
    ]
