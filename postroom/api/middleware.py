"""JSON errors for everything under /api/, also what Django answers outside the API's
own views: an unknown path (404), a wrong method (405), an unhandled exception (500),
a CSRF or host refusal. The rest of the site keeps its HTML pages."""

from __future__ import annotations

import logging
from http import HTTPStatus

from django.core.exceptions import PermissionDenied
from django.http import Http404

from .errors import json_error

logger = logging.getLogger(__name__)

PREFIX = "/api/"


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase.lower()
    except ValueError:
        return "error"


class ApiErrorMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if not request.path.startswith(PREFIX) or response.status_code < 400:
            return response
        if response.get("Content-Type", "").startswith("application/json"):
            return response
        status = response.status_code
        if status == 404:
            message = "no such path in the API; see /api/v1/docs/"
        elif status == 405:
            allowed = response.get("Allow", "")
            message = f"method {request.method} not allowed here" + (
                f"; allowed: {allowed}" if allowed else ""
            )
        else:
            message = _reason(status)
        replaced = json_error(status, message)
        for header in ("Allow", "Retry-After"):
            if header in response:
                replaced[header] = response[header]
        return replaced

    def process_exception(self, request, exception):
        if not request.path.startswith(PREFIX) or isinstance(exception, Http404 | PermissionDenied):
            return None  # Django answers these; __call__ turns them into JSON
        logger.exception("API %s %s failed", request.method, request.path)
        return json_error(500, "internal error; it is in the server's log")
