"""The database guard (DB-1…DB-4): a PostgreSQL protocol proxy that attributes every statement,
counts its rows on the wire, applies time and volume policies, firewalls SQL on PostgreSQL's own
grammar (pglast), and watches privileges for drift. Every statement and every verdict is a
ledger event. See docs/dbguard.md."""
