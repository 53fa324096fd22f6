"""The API tokens card of the profile page: make a token (shown once), revoke one."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.dateparse import parse_date
from django.views.decorators.http import require_POST

from .models import ApiToken
from .tokens import TokenError, do_create_token, do_revoke_token


def _expiry(value: str) -> datetime | None:
    """The form's expiry date: the token works through that day, in the site's zone."""
    day = parse_date(value) if value else None
    if day is None:
        return None
    return timezone.make_aware(datetime.combine(day + timedelta(days=1), time.min))


@login_required
@require_POST
def token_create(request):
    try:
        made = do_create_token(
            request.user,
            name=request.POST.get("name", ""),
            scope=request.POST.get("scope", ApiToken.Scope.READ),
            expires_at=_expiry(request.POST.get("expires", "")),
        )
    except (TokenError, ValueError) as exc:
        messages.error(request, f"No token made: {exc}.")
        return redirect("web:profile")
    # Rendered, not redirected: the raw value must not travel through a cookie or the
    # session. This page is the only time anyone sees it.
    response = render(request, "api/token_created.html", {"made": made})
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_POST
def token_revoke(request, token_id: int):
    token = get_object_or_404(ApiToken, pk=token_id, user=request.user)
    if do_revoke_token(token, acting_user=request.user):
        messages.success(request, f"Token “{token.name}” revoked: it no longer works.")
    return redirect("web:profile")
