"""Refusals in the page's own layout, logged as one line each.

- A PermissionDenied anywhere (its message names the right that is missing) becomes
  the 403 page (`handler403` in postroom/urls.py); CRM, inbox and dashboard views that
  refuse by themselves call `refused()` for the same page.
- An Http404 (an item or mailbox the user may not see, or one that does not exist:
  the page never says which) becomes the 404 page.

Django logs a PermissionDenied with its traceback; a refusal is an ordinary answer, so
it is logged here as one line (who, what, why) and Django is told it was logged.
"""

import logging

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

log = logging.getLogger("postroom.refused")

# What a refusal says when the code that refused gave no reason.
NO_REASON = "You do not have the right to do this."


def _wants_text(request: HttpRequest) -> bool:
    """A script's request (fetch) gets the reason as text, not a page."""
    return request.headers.get("X-Requested-With") == "fetch"


def _who(request: HttpRequest) -> str:
    user = getattr(request, "user", None)
    return user.get_username() if user is not None and user.is_authenticated else "anonymous"


def refused(request: HttpRequest, reason: str = "") -> HttpResponse:
    """403 with the reason: the page, or plain text for a script."""
    reason = (reason or NO_REASON).strip()
    # Reasons are written for logs and pages alike; on a page a sentence starts upper-case.
    reason = reason[0].upper() + reason[1:]
    log.warning("refused %s %s %s: %s", _who(request), request.method, request.path, reason)
    if _wants_text(request):
        response = HttpResponse(reason, status=403, content_type="text/plain; charset=utf-8")
    else:
        response = render(request, "403.html", {"reason": reason}, status=403)
    response._has_been_logged = True  # not again, with a traceback, by django.request
    return response


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """handler403: a PermissionDenied raised by any view."""
    return refused(request, str(exception or "").strip())


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """handler404. Never the exception's text: it could confirm what the user may not see.
    (django.request logs the path as one line already.)"""
    if _wants_text(request):
        return HttpResponse("Not found.", status=404, content_type="text/plain; charset=utf-8")
    return render(request, "404.html", status=404)
