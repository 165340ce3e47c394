"""The web package's error base, and the one error that becomes an HTTP answer."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mamori.errors import MamoriError


class WebError(MamoriError):
    """The HTTP application or its server cannot do what was asked (e.g. the TLS certificate
    does not load, so the console port cannot start)."""


class HttpError(WebError):
    """A request refused with `status`: the answer is JSON ``{"error", "hint", ...}``.

    Raised by the handlers and the pure request checks; the application turns it into the
    response, so a refusal never becomes a 500 or a traceback.
    """

    def __init__(
        self,
        status: int,
        message: str,
        *,
        hint: str,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.status = status
        """The HTTP status code of the answer."""
        self.headers: dict[str, str] = dict(headers or {})
        """Extra response headers (``WWW-Authenticate``, ``Retry-After``, ``Connection``)."""
        self.extra: dict[str, Any] = dict(extra or {})
        """Further members of the JSON answer (``items`` and ``bad_items`` for a bad batch)."""

    def body(self) -> dict[str, Any]:
        """The JSON answer."""
        return {"error": self.message, "hint": self.hint or "", **self.extra}
