"""What the alerts, incidents and service-desk routes share.

* :func:`failure_of`: the one mapping of an error of :mod:`mamori.alerts` or
  :mod:`mamori.incidents` (and of a form this layer could not read) to what the request gets:
  400, 404, 409, 500 (the change was made but its audit event is missing: it stands) or 503.
* :func:`for_page` and :func:`for_api`: run a blocking call of those packages in a worker
  thread and answer its error with the error page or the page again with the reason
  (:class:`Refusal`), or with a JSON :class:`~mamori.web.errors.HttpError`.
* Forms: :func:`posted_form` (a long form, CSRF checked, line breaks as ``\\n``),
  :class:`BadForm` and :func:`choice`; :func:`check_api_csrf` for a session's API ``POST``;
  :func:`done_of` for the ``?done=`` sentence after a 303.
* :func:`api_responses`: the error answers of the OpenAPI description.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import enum
from collections.abc import Awaitable, Callable, Collection
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Final, TypeVar
from zoneinfo import ZoneInfo

from fastapi import Request, Response

from mamori.access.sessions import CSRF_HEADER, check_csrf
from mamori.alerts.errors import AlertNotFound, AlertsError, AlertsUnavailable, TransitionRefused
from mamori.alerts.errors import AuditNotRecorded as AlertAuditNotRecorded
from mamori.home import Home
from mamori.incidents.errors import AuditNotRecorded, IncidentsError, NotFound, StoreUnavailable
from mamori.web.auth import LONG_FORM_MAX, Principal, check_csrf_of, form_of
from mamori.web.errors import HttpError, WebError
from mamori.web.openapi import BEARER_HEADERS, ErrorModel
from mamori.web.pages import error_page

__all__ = [
    "READ",
    "SERVICE_ERRORS",
    "BadForm",
    "Failure",
    "Refusal",
    "Unavailable",
    "api_error",
    "api_responses",
    "check_api_csrf",
    "choice",
    "done_of",
    "failure_of",
    "for_api",
    "for_page",
    "in_store",
    "local_time",
    "posted_form",
    "read_for_page",
    "text_form_of",
]

T = TypeVar("T")
S = TypeVar("S", bound=AbstractContextManager[Any])

READ: Final = ["GET", "HEAD"]
"""The methods of a page."""


class Unavailable(WebError):
    """A store could not be opened: a 503, not a refusal of the change."""


class BadForm(WebError):
    """A form value outside its choices or not readable (a hand-made request): a 400, said in
    English."""

    def __init__(self, message: str) -> None:
        super().__init__(message)


SERVICE_ERRORS: Final = (AlertsError, IncidentsError, Unavailable, BadForm)
"""The errors :func:`failure_of` maps; anything else is a bug and becomes the guard's 500."""


class Failure(enum.Enum):
    """What an error of the services means for the request; the value is the HTTP status."""

    INVALID = 400
    """A value cannot be used (a form field, a note too long); nothing was changed."""
    NOT_FOUND = 404
    REFUSED = 409
    """The service refused the change (its state or workflow does not allow it)."""
    AUDIT = 500
    """The change was made and stands, but its audit event could not be recorded."""
    UNAVAILABLE = 503


def failure_of(e: Exception) -> Failure | None:
    """What `e` means for the request; None for an error not of :data:`SERVICE_ERRORS`."""
    if isinstance(e, BadForm):
        return Failure.INVALID
    if isinstance(e, Unavailable):
        return Failure.UNAVAILABLE
    if isinstance(e, AlertsError):
        if isinstance(e, AlertNotFound):
            return Failure.NOT_FOUND
        if isinstance(e, TransitionRefused):
            return Failure.REFUSED
        if isinstance(e, AlertAuditNotRecorded):
            return Failure.AUDIT
        if isinstance(e, AlertsUnavailable):
            return Failure.UNAVAILABLE
        return Failure.INVALID  # a note too long, a reason missing
    if isinstance(e, IncidentsError):
        if isinstance(e, NotFound):
            return Failure.NOT_FOUND
        if isinstance(e, AuditNotRecorded):
            return Failure.AUDIT
        if isinstance(e, StoreUnavailable):
            return Failure.UNAVAILABLE
        return Failure.REFUSED  # the workflow, a missing reason or LAW-4 field, …
    return None


def api_error(e: WebError | AlertsError | IncidentsError, what: str) -> HttpError:
    """The JSON answer to `e`, an error of :data:`SERVICE_ERRORS` about a `what` (``"alert"``,
    ``"incident"``, ``"ticket"``)."""
    failure = failure_of(e)
    match failure:
        case Failure.INVALID:
            return HttpError(400, e.message, hint=e.hint or "see /api/v1/openapi.json")
        case Failure.NOT_FOUND:
            return HttpError(404, e.message, hint=e.hint or f"list them with GET /api/v1/{what}s")
        case Failure.REFUSED:
            return HttpError(
                409, e.message, hint=e.hint or f"GET the {what} to see where it stands"
            )
        case Failure.AUDIT:
            return HttpError(500, e.message, hint=e.hint or "the change stands")
        case Failure.UNAVAILABLE:
            return HttpError(503, f"the {what} store cannot be used now", hint=e.message)
        case None:  # pragma: no cover - only the errors above are passed in
            raise e


@dataclass(frozen=True, slots=True)
class Refusal:
    """A change not made as asked, shown on the page again (400, 409; 500: made, audit event
    missing). The message and hint are the service's English."""

    failure: Failure
    message: str
    hint: str | None = None

    @property
    def status(self) -> int:
        return self.failure.value

    @classmethod
    def invalid(cls, message: str) -> Refusal:
        return cls(Failure.INVALID, message)


def in_store(open_store: Callable[[Home], S], home: Home, work: Callable[[S], T]) -> T:
    """`work` on the store `open_store` opens in `home` (blocking: call it in a worker thread);
    :class:`Unavailable` when the store cannot be opened."""
    try:
        store = open_store(home)
    except IncidentsError as e:
        raise Unavailable(e.message, hint=e.hint) from e
    with store:
        return work(store)


async def read_for_page(request: Request, work: Callable[[], T]) -> T | Response:
    """`work()` in a worker thread, or the 404 page (nothing with that id) or the 503 page
    (any other error of the services: a read is never refused)."""
    try:
        return await asyncio.to_thread(work)
    except SERVICE_ERRORS as e:
        return error_page(request, 404 if failure_of(e) is Failure.NOT_FOUND else 503)


async def for_page(
    request: Request,
    work: Callable[[], T],
    refused: Callable[[Refusal], Awaitable[Response]],
) -> T | Response:
    """`work()` in a worker thread; when the service does not do it: the 404 or 503 page, or
    `refused(...)`, the page again with the reason (400, 409, 500)."""
    try:
        return await asyncio.to_thread(work)
    except SERVICE_ERRORS as e:
        failure = failure_of(e)
        assert failure is not None
        if failure in (Failure.NOT_FOUND, Failure.UNAVAILABLE):
            return error_page(request, failure.value)
        return await refused(Refusal(failure, e.message, e.hint))


async def for_api(work: Callable[[], T], what: str) -> T:
    """`work()` in a worker thread; an error of the services becomes its JSON answer."""
    try:
        return await asyncio.to_thread(work)
    except SERVICE_ERRORS as e:
        raise api_error(e, what) from e


# --- forms -----------------------------------------------------------------------------------


async def text_form_of(request: Request) -> dict[str, str]:
    """:func:`~mamori.web.auth.form_of` of up to :data:`~mamori.web.auth.LONG_FORM_MAX`, with
    line breaks as ``\\n``: browsers send a textarea's as CRLF (HTML, "constructing the entry
    list"), and the incidents package refuses a CR as a control character."""
    form = await form_of(request, LONG_FORM_MAX)
    return {k: v.replace("\r\n", "\n").replace("\r", "\n") for k, v in form.items()}


async def posted_form(request: Request, principal: Principal) -> dict[str, str]:
    """The :func:`text_form_of` of a page's ``POST``, once its CSRF token is checked (a 403
    without)."""
    form = await text_form_of(request)
    check_csrf_of(request, principal, form)
    return form


def choice(kind: Callable[[str], T], value: str) -> T | None:
    """`value` as one of `kind`'s members; None when empty; :class:`BadForm` otherwise."""
    if not value:
        return None
    try:
        return kind(value)
    except ValueError:
        raise BadForm(f"{value[:40]!r} is not one of the choices") from None


def done_of(request: Request, allowed: Collection[str]) -> str | None:
    """The ``?done=`` of the 303 after a change, when it is one of `allowed`."""
    done = request.query_params.get("done")
    return done if done in allowed else None


def check_api_csrf(request: Request, principal: Principal) -> None:
    """A session's POST must carry its CSRF token (a bearer token has no cookie to ride on)."""
    if principal.via != "session":
        return
    if principal.csrf is None or not check_csrf(principal.csrf, request.headers.get(CSRF_HEADER)):
        raise HttpError(
            403,
            "the request lacks the session's CSRF token",
            hint=f"send it in the {CSRF_HEADER} header (it is on every console page)",
        )


def local_time(t: dt.datetime | None, zone: ZoneInfo) -> str:
    """`t` in the calendar zone, ``2026-11-27 10:15 JST`` (the same in every language)."""
    if t is None:
        return ""
    local = t.astimezone(zone)
    return f"{local:%Y-%m-%d %H:%M} {local.tzname() or ''}".rstrip()


# --- the OpenAPI description -----------------------------------------------------------------

Responses = dict[int | str, dict[str, Any]]


def api_responses(what: str, *, one: bool = False, refused: str | None = None) -> Responses:
    """The error answers of a route about a `what`: 400, 401, 403, 503; with `one` (a route
    with an id) 404; with `refused` (a change; the description of its 409) 409 and 500."""
    out: Responses = {
        400: {"model": ErrorModel, "description": "A parameter or the body is not valid."},
        401: {
            "model": ErrorModel,
            "description": "No session and no bearer token.",
            "headers": BEARER_HEADERS,
        },
        403: {
            "model": ErrorModel,
            "description": "The role (or the token's scope) does not allow it, or a session's "
            "POST lacks its CSRF token.",
        },
        503: {"model": ErrorModel, "description": f"The {what} store cannot be used now."},
    }
    if one:
        out[404] = {"model": ErrorModel, "description": f"No {what} with this id."}
    if refused is not None:
        out[409] = {"model": ErrorModel, "description": refused}
        out[500] = {
            "model": ErrorModel,
            "description": "The change was made but its audit event could not be recorded.",
        }
    return out
