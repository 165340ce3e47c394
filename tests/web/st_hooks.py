"""schemathesis hooks: how to put a generated body on the wire as JSON Lines.

POST /api/v1/events takes JSON Lines under several media types; schemathesis only knows how to
serialise JSON, so without these it reports "Serialization not possible" for them.
"""

from __future__ import annotations

from typing import Any

import orjson
import schemathesis


@schemathesis.serializer(
    "application/x-ndjson", "application/jsonl", "application/jsonlines", "application/json-lines"
)
def json_lines(ctx: Any, value: Any) -> bytes:
    if isinstance(value, str):  # the schema's own example: the body text itself
        return value.encode("utf-8")
    if isinstance(value, bytes):
        return value
    items = value if isinstance(value, list) else [value]
    return b"".join(orjson.dumps(item) + b"\n" for item in items)
