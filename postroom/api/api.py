"""The REST API, version 1: /api/v1/, its OpenAPI 3.1 document at /api/v1/openapi.json
and browsable docs (vendored Swagger UI) at /api/v1/docs/.

Endpoints are thin (postroom/api/endpoints/*): each loads what the caller may see with
the same functions the web views use (web/access.py, crm/access.py, mailboxes/access.py)
and changes things only through the apps' do_… actions.
"""

from __future__ import annotations

import logging

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError
from django.http import Http404
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError

from .auth import AUTH
from .errors import ApiError, RateLimited, json_error
from .parser import CheckedParser

logger = logging.getLogger(__name__)

DESCRIPTION = """Postroom's REST API: what a person can do in the UI, a program can do too.

**Authentication.** A personal API token from your profile page, sent as
`Authorization: Bearer prm_…`. A token of scope *read* may only read; *read-write* may
change. From the browser, the logged-in session works too (writes need the CSRF token
in `X-CSRFToken`).

**Permissions** are the UI's own: something you may not read is a 404; an action you
may not take is a 403 whose message names the right it needs.

**Errors** are always JSON: `{"code": "...", "message": "...", "field": "..."}`; `field`
only for invalid input.

**Rate limit:** requests per minute per token; over it, 429 with `Retry-After`.

**Pagination:** lists return `next_cursor`; pass it as `cursor` for the next page.
"""

api = NinjaAPI(
    title="Postroom API",
    version="1",
    description=DESCRIPTION,
    auth=AUTH,
    urls_namespace="api-v1",
    openapi_url="/openapi.json",
    docs_url="/docs/",
    parser=CheckedParser(),
)


@api.exception_handler(ApiError)
def _api_error(request, exc: ApiError):
    response = json_error(exc.status, exc.message, code=exc.code, field=exc.field)
    if isinstance(exc, RateLimited):
        response["Retry-After"] = str(exc.retry_after)
    return response


@api.exception_handler(Http404)
def _not_found(request, exc):
    return json_error(404, "not found, or not yours to see")


@api.exception_handler(PermissionDenied)
def _forbidden(request, exc):
    return json_error(403, str(exc) or "you may not do this")


@api.exception_handler(AuthenticationError)
def _unauthenticated(request, exc):
    return json_error(
        401, "authentication needed: Authorization: Bearer <token>, or a logged-in session"
    )


@api.exception_handler(HttpError)
def _http_error(request, exc: HttpError):
    if isinstance(exc.__cause__, ApiError):  # the parser's refusal, wrapped by ninja
        return _api_error(request, exc.__cause__)
    message = str(exc)
    code = "csrf_failed" if "CSRF" in message else None
    return json_error(exc.status_code, message, code=code)


def _field(loc) -> str | None:
    # ninja's locations start with where the value came from, and a JSON body's with the
    # endpoint's parameter name too: ("body", "data", "status") is the body's "status".
    loc = list(loc)
    if len(loc) > 2 and loc[0] == "body":
        loc = loc[2:]
    elif loc and loc[0] in ("query", "path", "body", "form", "header", "cookie"):
        loc = loc[1:]
    return ".".join(str(p) for p in loc) or None


@api.exception_handler(ValidationError)
def _invalid(request, exc: ValidationError):
    first = exc.errors[0] if exc.errors else {}
    field = _field(first.get("loc", ()))
    message = first.get("msg", "invalid input")
    return json_error(422, f"{field}: {message}" if field else message, code="invalid", field=field)


@api.exception_handler(DjangoValidationError)
def _django_invalid(request, exc: DjangoValidationError):
    field = None
    if hasattr(exc, "error_dict"):
        field = next(iter(exc.error_dict), None)
    return json_error(422, "; ".join(exc.messages), code="invalid", field=field)


@api.exception_handler(OverflowError)
def _overflow(request, exc):
    return json_error(422, "a number is out of range", code="invalid")


@api.exception_handler(DataError)
def _data_error(request, exc):
    # A value past a column's bounds (a 64-bit id, a decimal) that a schema let through.
    logger.info("API %s %s: value out of range: %s", request.method, request.path, exc)
    return json_error(422, "a value is out of range", code="invalid")


@api.exception_handler(Exception)
def _crash(request, exc: Exception):
    logger.exception("API %s %s failed", request.method, request.path)
    return json_error(500, "internal error; it is in the server's log")


def _register() -> None:
    from .endpoints import conversations, crm, mailboxes, messages, outbound, people, tasks

    api.add_router("/conversations", conversations.router)
    api.add_router("/messages", messages.router)
    api.add_router("/mailboxes", mailboxes.router)
    api.add_router("", outbound.router)
    api.add_router("/crm", crm.router)
    api.add_router("/tasks", tasks.router)
    api.add_router("", people.router)


_register()
