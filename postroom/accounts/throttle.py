"""Throttling failed logins: django-axes counts them, this module sets the two limits and
says when a locked-out person may try again.

Two limits within the cool-off (settings.LOGIN_COOLOFF_MINUTES): failures for one
account from one IP address (LOGIN_FAILURES_PER_ACCOUNT, which axes knows as
AXES_FAILURE_LIMIT) and failures from one IP address whatever the accounts
(LOGIN_FAILURES_PER_IP). Per account *and* address, so that someone guessing a
colleague's password from elsewhere does not lock the colleague out of their own desk.
Wrong second-factor codes count as failed logins too (postroom.twofactor).

Axes compares one number with one limit; `LoginThrottleHandler.get_failures` gives it
the account's count, raised to the limit when the address is over its own.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from axes.handlers.database import AxesDatabaseHandler
from axes.handlers.proxy import AxesProxyHandler
from axes.helpers import get_client_username, get_cool_off
from django.conf import settings
from django.db.models import QuerySet
from django.shortcuts import render
from django.utils import timezone
from django.utils.formats import time_format

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Lockout:
    """Who is locked out, and until when."""

    per_account: bool  # else the address as a whole
    until: datetime

    def message(self, now: datetime | None = None) -> str:
        now = now or timezone.now()
        minutes = max(1, math.ceil((self.until - now).total_seconds() / 60))
        local = timezone.localtime(self.until)
        when = f"{time_format(local, 'H:i')} {local.tzname()}"
        who = "for this account" if self.per_account else "from your network address"
        return (
            f"Too many failed logins {who}; try again after {when} "
            f"(in {minutes} minute{'s' if minutes != 1 else ''})."
        )


def _unlocked_at(attempts: QuerySet, limit: int, cool_off: timedelta) -> datetime | None:
    """When the failures in `attempts` drop below `limit`; None if they are below it.

    Each row counts its failures until its last one is `cool_off` old (axes's rule), so
    the lock lifts when the newest rows alone no longer reach the limit.
    """
    total = 0
    for failures, last in attempts.order_by("-attempt_time").values_list(
        "failures_since_start", "attempt_time"
    ):
        total += failures
        if total >= limit:
            return last + cool_off
    return None


class LoginThrottleHandler(AxesDatabaseHandler):
    """Axes's database handler with a limit of its own for an address as a whole."""

    def _account_and_ip_attempts(self, request, credentials) -> tuple[QuerySet, QuerySet]:
        # In the order of settings.AXES_LOCKOUT_PARAMETERS: (username, ip), then ip.
        account, ip = self.get_user_attempts(request, credentials)
        return account, ip

    def get_failures(self, request, credentials: dict | None = None) -> int:
        account, ip = self._account_and_ip_attempts(request, credentials)
        account_failures = _failures(account)
        if _failures(ip) >= settings.LOGIN_FAILURES_PER_IP:
            return max(account_failures, settings.LOGIN_FAILURES_PER_ACCOUNT)
        return account_failures

    def reset_user_attempts(self, request, credentials: dict | None = None) -> int:
        """After a successful login, forget that account's failures from this address, but
        not the address's failures on other accounts: else logging in to one's own
        account between guesses would reset the count of the account under attack."""
        account, _ip = self.filter_user_attempts(request, credentials)
        count, _ = account.delete()
        return count

    def lockout(self, request, credentials: dict | None = None) -> Lockout | None:
        """The lock-out of this request's account and address, or None."""
        account, ip = self._account_and_ip_attempts(request, credentials)
        cool_off = get_cool_off(request)
        found = []
        if until := _unlocked_at(ip, settings.LOGIN_FAILURES_PER_IP, cool_off):
            found.append(Lockout(per_account=False, until=until))
        if until := _unlocked_at(account, settings.LOGIN_FAILURES_PER_ACCOUNT, cool_off):
            found.append(Lockout(per_account=True, until=until))
        return max(found, key=lambda lock: lock.until, default=None)


def _failures(attempts: QuerySet) -> int:
    return sum(attempts.values_list("failures_since_start", flat=True))


def lockout_of(request, credentials: dict | None = None) -> Lockout | None:
    """The lock-out in force for this request (its username from `credentials` or the
    POST), or None; always None with throttling off."""
    if not settings.AXES_ENABLED:
        return None
    AxesProxyHandler.update_request(request)
    handler = AxesProxyHandler.get_implementation()
    if not isinstance(handler, LoginThrottleHandler):
        return None
    return handler.lockout(request, credentials)


def lockout_response(request, original_response=None, credentials=None):
    """What axes answers to a locked-out login: the login page, saying until when (429)."""
    from django.contrib.auth.forms import AuthenticationForm

    lock = lockout_of(request, credentials) or Lockout(
        per_account=True, until=timezone.now() + get_cool_off(request)
    )
    username = get_client_username(request, credentials) or ""
    logger.warning(
        "login locked out: account %r from %s until %s (%s)",
        username,
        getattr(request, "axes_ip_address", "?"),
        lock.until.isoformat(timespec="seconds"),
        "account and address" if lock.per_account else "address",
    )
    form = AuthenticationForm(request, initial={"username": username})
    context = {"form": form, "lockout": lock.message(), "next": request.POST.get("next", "")}
    return render(request, "registration/login.html", context, status=429)
