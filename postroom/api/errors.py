"""Every error of the API as one JSON shape: {"code", "message", "field"?}.

`code` is stable (programs branch on it), `message` is for a person, `field` names the
input at fault in a validation error. Never an HTML page or a traceback: the API's own
exception handlers (api.py) and, for what Django answers before or around the API (an
unknown path, a wrong method, a crash), postroom.api.middleware.
"""

from __future__ import annotations

import json

from django.http import HttpResponse
from ninja import Schema


class Error(Schema):
    code: str
    message: str
    field: str | None = None


# The codes by status, for errors raised without one of their own.
CODES = {
    400: "bad_request",
    401: "not_authenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    422: "invalid",
    429: "rate_limited",
    500: "server_error",
    503: "unavailable",
}


class ApiError(Exception):
    """Raised by an endpoint: answered as {code, message, field} with `status`."""

    def __init__(
        self, status: int, message: str, *, code: str | None = None, field: str | None = None
    ):
        super().__init__(message)
        self.status = status
        self.code = code or CODES.get(status, "error")
        self.message = message
        self.field = field


class RateLimited(ApiError):
    def __init__(self, retry_after: int):
        super().__init__(
            429,
            f"too many requests with this token; try again in {retry_after} s",
            code="rate_limited",
        )
        self.retry_after = retry_after


def error_body(status: int, message: str, *, code: str | None = None, field: str | None = None):
    body = {"code": code or CODES.get(status, "error"), "message": message}
    if field:
        body["field"] = field
    return body


def json_error(
    status: int, message: str, *, code: str | None = None, field: str | None = None
) -> HttpResponse:
    return HttpResponse(
        json.dumps(error_body(status, message, code=code, field=field)),
        status=status,
        content_type="application/json",
    )


# The error responses every operation documents, so a client (and schemathesis) knows
# their shape.
ERRORS = {400: Error, 401: Error, 403: Error, 404: Error, 409: Error, 422: Error, 429: Error}


def responses(ok_status: int, schema) -> dict:
    return {ok_status: schema, **ERRORS}
