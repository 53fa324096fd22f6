"""Nobody past the login without their second factor."""

from django.conf import settings
from django.contrib.auth import logout
from django.contrib.auth.views import redirect_to_login
from django.shortcuts import redirect
from django.urls import reverse

from .actions import has_second_factor, must_set_up


class SecondFactorMiddleware:
    """After django_otp's OTPMiddleware, which tells whether the session is verified.

    - A logged-in session not verified by a code, of a user who has an authenticator
      (a session from before it was set up, or made without the login page), is logged
      out and sent to log in again: password, then code.
    - With POSTROOM_REQUIRE_ADMIN_2FA, an administrator without an authenticator sees
      only the page that sets one up (and may log out).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated or _is_static(request.path):
            return self.get_response(request)
        if not user.is_verified() and has_second_factor(user):
            logout(request)
            return redirect_to_login(request.get_full_path())
        if must_set_up(user) and request.path not in _setup_paths():
            return redirect("web:two_factor")
        return self.get_response(request)


def _is_static(path: str) -> bool:
    return path.startswith("/" + settings.STATIC_URL.lstrip("/"))


def _setup_paths() -> set[str]:
    return {reverse("web:two_factor"), reverse("logout")}
