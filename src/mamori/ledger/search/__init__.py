"""Full-text and field search over the ledger (SEC-5: logs must be searchable).

The index is derived data in `HOME/index/search.db`; the event bodies stay in the ledger and
are read from it for every hit. See docs/search.md for the query syntax and the design.
"""

from __future__ import annotations

from mamori.ledger.search.index import INDEX_NAME, Hit, SearchIndex, search
from mamori.ledger.search.query import QueryError, parse, parse_time

__all__ = ["INDEX_NAME", "Hit", "QueryError", "SearchIndex", "parse", "parse_time", "search"]
