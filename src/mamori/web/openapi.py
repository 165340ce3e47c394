"""The OpenAPI description of the API: documentation only.

The handlers read their bodies themselves (orjson, no pydantic per event); these models and
dictionaries only describe the requests and answers in ``/api/v1/openapi.json``.
"""

from __future__ import annotations

from typing import Any, Final

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, Field

from mamori.web.ingest import BOUNDARY_FORMATS, LINES_TYPES

__all__ = [
    "BEARER_HEADERS",
    "EVENTS_OPENAPI",
    "EVENTS_RESPONSES",
    "METRICS_CONTENT_TYPE",
    "ErrorModel",
    "HealthModel",
    "openapi",
]

METRICS_CONTENT_TYPE: Final = "text/plain; version=0.0.4; charset=utf-8"


class ErrorModel(BaseModel):
    error: str = Field(description="What went wrong, in one sentence.")
    hint: str = Field(description="What to do about it.")


class BadItemModel(BaseModel):
    position: int = Field(description="0-based index of the item in the batch.")
    line: int | None = Field(None, description="1-based line number, for line formats.")
    reason: str = Field(description="Why the item is not a valid event.")


class InvalidBatchModel(ErrorModel):
    """A 400: bad items listed by position; a body that is wrong as a whole (empty, broken
    gzip, cut short) has no items, only the error and hint."""

    items: list[BadItemModel] = Field(
        default_factory=list, description="The first 100 bad items, in order (when items are bad)."
    )
    bad_items: int = Field(default=0, description="How many items are bad in all.")


class AcceptedModel(BaseModel):
    accepted: int = Field(description="Events stored.")
    first: int = Field(description="Ledger index of the first event of the batch.")
    last: int = Field(description="Ledger index of the last event of the batch.")


class SpooledModel(BaseModel):
    accepted: int = Field(description="Events made durable in the spool.")
    spooled: bool = Field(description="Always true: indices are given when the spool is replayed.")


class HealthModel(BaseModel):
    status: str = Field(description='"ok" while the application answers.')


BEARER_HEADERS: Final = {
    "WWW-Authenticate": {
        "description": "`Bearer` challenge (RFC 6750 §3).",
        "schema": {"type": "string"},
    }
}
LINES_SCHEMA: Final = {
    "schema": {"type": "string"},
    "example": '{"message": "login failed", "user": {"name": "alice"}}\n{"message": "logout"}\n',
}
EVENTS_OPENAPI: Final[dict[str, Any]] = {
    "requestBody": {
        "required": True,
        "description": (
            "A JSON array of event objects (or one object) as application/json; one object per "
            "line (blank lines ignored) as JSON Lines; with `format`, log lines of that format "
            "as text/plain. May be gzip-compressed (`Content-Encoding: gzip`)."
        ),
        "content": {
            "application/json": {
                "schema": {
                    "oneOf": [
                        {"type": "array", "items": {"type": "object"}, "minItems": 1},
                        {"type": "object"},
                    ]
                },
                "example": [{"message": "login failed", "user": {"name": "alice"}}],
            },
            **{media: LINES_SCHEMA for media in LINES_TYPES},
        },
    },
    "parameters": [
        {
            "name": "format",
            "in": "query",
            "required": False,
            "description": (
                "The body is log lines in this format, mapped to ECS: `zeek` (conn.log, TSV with "
                "#fields headers, or JSON lines), `suricata` (EVE JSON lines), `vpcflow` (AWS VPC "
                "flow logs, version 2 or a header line naming the fields)."
            ),
            "schema": {"type": "string", "enum": list(BOUNDARY_FORMATS)},
        },
    ],
    # Content-Encoding (gzip or identity) is described in the request body's description, not
    # as a header parameter: it says how the body was transformed, which a parameter cannot
    # (a client generating requests from the schema sent "gzip" over an uncompressed body).
    "security": [{"bearer": ["ingest"]}],
}
EVENTS_RESPONSES: Final[dict[int | str, dict[str, Any]]] = {
    200: {"model": AcceptedModel, "description": "Stored in the ledger."},
    202: {
        "model": SpooledModel,
        "description": "Made durable in the spool while the ledger's storage is unavailable.",
    },
    400: {
        "model": InvalidBatchModel,
        "description": "The batch (or one of its items) is not valid, or empty; nothing stored.",
    },
    401: {
        "model": ErrorModel,
        "description": "No token, or an unknown one.",
        "headers": BEARER_HEADERS,
    },
    403: {
        "model": ErrorModel,
        "description": "The token lacks scope `ingest`, or the device is not registered.",
    },
    413: {
        "model": ErrorModel,
        "description": "The body, or its decompressed form, is larger than the limit.",
    },
    415: {"model": ErrorModel, "description": "Content-Type or Content-Encoding not supported."},
    503: {
        "model": ErrorModel,
        "description": "Storage and spool cannot take events now; retry after `Retry-After` seconds.",
        "headers": {"Retry-After": {"schema": {"type": "integer"}}},
    },
}


def openapi(app: FastAPI) -> dict[str, Any]:
    """The schema, with the bearer security scheme the operations refer to."""
    if app.openapi_schema is None:
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        schema.setdefault("components", {})["securitySchemes"] = {
            "bearer": {
                "type": "http",
                "scheme": "bearer",
                "description": "An API token (`mamori tokens add NAME --scope ingest|metrics|read`).",
            }
        }
        app.openapi_schema = schema
    return app.openapi_schema
