"""The public endpoints in sent mail: the open image and the link redirect.

No login, no session, no cookie, nothing about the organisation: a token that names
nothing gets the same plain 404 as a path that does not exist, and a redirect goes
only to a link of that email.
"""

import base64

from axes.helpers import get_client_ip_address
from django.http import HttpResponse, HttpResponseNotFound, HttpResponseRedirect
from django.views.decorators.http import require_safe

from . import events, ratelimit

# A transparent 1x1 GIF.
PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")


def _plain(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = "no-store, private"
    response["Referrer-Policy"] = "no-referrer"
    response["X-Robots-Tag"] = "noindex"
    return response


def _not_found() -> HttpResponse:
    return _plain(HttpResponseNotFound(b"Not found\n", content_type="text/plain"))


def _too_many() -> HttpResponse:
    return _plain(HttpResponse(b"Too many requests\n", status=429, content_type="text/plain"))


def _record(request, kind: str, token: str) -> str | None:
    return events.record(
        kind,
        token,
        ip=get_client_ip_address(request) or "",
        user_agent=request.META.get("HTTP_USER_AGENT", ""),
    )


@require_safe
def open_image(request, token: str):
    if not ratelimit.allowed(get_client_ip_address(request) or ""):
        return _too_many()
    if _record(request, "open", token) is None:
        return _not_found()
    return _plain(HttpResponse(PIXEL, content_type="image/gif"))


@require_safe
def click(request, token: str):
    if not ratelimit.allowed(get_client_ip_address(request) or ""):
        return _too_many()
    url = _record(request, "click", token)
    if not url:
        return _not_found()
    return _plain(HttpResponseRedirect(url))


def not_found(request):
    return _not_found()
