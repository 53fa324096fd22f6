"""Who calls the API: a personal token (Authorization: Bearer prm_…) or, for the UI's
own calls, the logged-in session with its CSRF token on every write.

A token's scope is checked here for every request: a read token may only read (GET,
HEAD, OPTIONS). Each token request counts against its rate limit.
"""

from __future__ import annotations

from django.http import HttpRequest
from ninja.security import HttpBearer, SessionAuth

from .errors import ApiError, RateLimited
from .tokens import use_token

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


class TokenAuth(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str):
        found, retry_after = use_token(token)
        if found is None:
            return None
        if retry_after is not None:
            raise RateLimited(retry_after)
        if request.method not in SAFE_METHODS and not found.may_write:
            raise ApiError(
                403,
                "this token may only read (scope read); changes need a read-write token",
                code="token_read_only",
            )
        request.api_token = found
        request.user = found.user
        return found.user


class SessionCsrfAuth(SessionAuth):
    """The session cookie; ninja checks the CSRF token on unsafe methods."""

    def authenticate(self, request: HttpRequest, key):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and user.is_active:
            request.api_token = None
            return user
        return None


AUTH = [TokenAuth(), SessionCsrfAuth()]
