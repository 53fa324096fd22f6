"""Personal API tokens: made, revoked, checked, and counted against the rate limit.

A token reads `prm_<43 url-safe characters>`; the prefix makes a leaked one easy to
find by secret scanners and in logs.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection
from django.utils import timezone

from .models import ApiToken

logger = logging.getLogger(__name__)

TOKEN_PREFIX = "prm_"  # noqa: S105 - a marker, not a secret
NAME_MAX = 100


class TokenError(Exception):
    """A token cannot be made as asked; the message says why."""


def hash_key(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


@dataclass(frozen=True)
class NewToken:
    token: ApiToken
    raw: str  # shown once, never stored


def do_create_token(
    user, *, name: str, scope: str = ApiToken.Scope.READ, expires_at: datetime | None = None
) -> NewToken:
    """A new token for `user`; the returned raw value is the only copy."""
    name = (name or "").strip()
    if not name:
        raise TokenError("a token needs a name")
    if len(name) > NAME_MAX:
        raise TokenError(f"a token's name has at most {NAME_MAX} characters")
    if scope not in ApiToken.Scope.values:
        raise TokenError(f"unknown scope {scope!r}")
    if expires_at is not None and expires_at <= timezone.now():
        raise TokenError("a token's expiry is in the future")
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user,
        name=name,
        prefix=raw[: len(TOKEN_PREFIX) + 6],
        key_hash=hash_key(raw),
        scope=scope,
        expires_at=expires_at,
    )
    logger.info("API token %s (%s) made for user %s", token.pk, token.scope, user.pk)
    return NewToken(token, raw)


def do_revoke_token(token: ApiToken, *, acting_user) -> bool:
    """Revoke at once: the next request with it is refused. Returns whether it was live."""
    changed = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    if changed:
        logger.info("API token %s revoked by user %s", token.pk, acting_user.pk)
    token.refresh_from_db(fields=["revoked_at"])
    return bool(changed)


def tokens_of(user):
    return ApiToken.objects.filter(user=user)


def token_for(raw: str) -> ApiToken | None:
    """The live token with this value and its active user, or None (not counted)."""
    if not _well_formed(raw):
        return None
    token = (
        ApiToken.objects.select_related("user")
        .filter(key_hash=hash_key(raw), user__is_active=True)
        .first()
    )
    if token is None or not token.is_usable():
        return None
    return token


def _well_formed(raw: str) -> bool:
    return bool(raw) and raw.startswith(TOKEN_PREFIX) and len(raw) <= 200


def rate_limit() -> int:
    return settings.POSTROOM["API_RATE_PER_MINUTE"]


def use_token(raw: str) -> tuple[ApiToken | None, int | None]:
    """The live token with this value (its active user loaded), counted as one request
    of the current minute and marked used; and the seconds to wait when it is over its
    rate limit, else None. (None, None) for a value that is no live token.

    Two statements, whatever the load: one UPDATE ... RETURNING finds, counts and marks
    the token (PostgreSQL, and SQLite since 3.35), then its user is read. The count is
    on the token's row, so it is exact across web processes and machines (a shared
    database, not a per-process cache). Under a loaded machine every round trip to the
    database waits its turn for a CPU: a SELECT, then a transaction around an UPDATE and
    a SELECT, were five round trips per request (bench/api_bench.py)."""
    if not _well_formed(raw):
        return None, None
    now = time.time()
    window = int(now // 60)
    at = timezone.now()
    table = connection.ops.quote_name(ApiToken._meta.db_table)
    # On PostgreSQL, outside a caller's transaction, the statement's own transaction
    # commits without waiting for the disk (synchronous_commit off, for this
    # transaction alone): a count and a last-use time are not worth a flush per read,
    # and a crash loses at most the last fraction of a second of them. Measured on the
    # loaded bench machine: the UPDATE's median 3.7 -> 0.5 ms, p95 16 -> 5.5 ms.
    lazy = connection.vendor == "postgresql" and not connection.in_atomic_block
    no_flush = (
        " FROM (SELECT set_config('synchronous_commit', 'off', true)) AS lazy" if lazy else ""
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET rate_count = CASE WHEN rate_window = %s "  # noqa: S608 - a model's table name
            "THEN rate_count + 1 ELSE 1 END, rate_window = %s, last_used_at = %s"
            f"{no_flush} WHERE key_hash = %s AND revoked_at IS NULL "
            "AND (expires_at IS NULL OR expires_at > %s) "
            "RETURNING id, user_id, scope, rate_count",
            [window, window, at, hash_key(raw), at],
        )
        row = cursor.fetchone()
    if row is None:
        return None, None
    token_id, user_id, scope, count = row
    user = get_user_model().objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        return None, None
    token = ApiToken(pk=token_id, user=user, scope=scope, last_used_at=at, rate_count=count)
    limit = rate_limit()
    if limit and count > limit:
        return token, max(1, int((window + 1) * 60 - now + 0.999))
    return token, None
