"""Cursor pagination: a page ends with `next_cursor`, an opaque string naming the last
row's sort key, so the next page starts right after it however many rows arrive
meanwhile (no skipped or repeated rows, no OFFSET scan)."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime

from django.db.models import Q, QuerySet

from .errors import ApiError

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


def encode(values: list) -> str:
    raw = json.dumps([v.isoformat() if isinstance(v, datetime) else v for v in values])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode(cursor: str, kinds: tuple[type, ...]) -> list:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if not isinstance(values, list) or len(values) != len(kinds):
            raise ValueError
        out = []
        for value, kind in zip(values, kinds, strict=True):
            if kind is datetime:
                out.append(datetime.fromisoformat(value))
            elif kind is int and isinstance(value, int) and not isinstance(value, bool):
                out.append(value)
            else:
                raise ValueError
        return out
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise ApiError(
            422, "not a cursor this API gave out", code="invalid", field="cursor"
        ) from None


def page_desc(
    queryset: QuerySet, cursor: str | None, limit: int, *, key: str
) -> tuple[list, str | None]:
    """A page of `queryset` ordered by (key, pk) descending, after `cursor`."""
    if cursor:
        when, pk = decode(cursor, (datetime, int))
        queryset = queryset.filter(Q(**{f"{key}__lt": when}) | Q(**{key: when, "pk__lt": pk}))
    rows = list(queryset.order_by(f"-{key}", "-pk")[: limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode([getattr(rows[-1], key), rows[-1].pk]) if more and rows else None
    return rows, next_cursor


def page_asc_pk(queryset: QuerySet, cursor: str | None, limit: int) -> tuple[list, str | None]:
    """A page of `queryset` ordered by primary key, after `cursor`."""
    if cursor:
        (pk,) = decode(cursor, (int,))
        queryset = queryset.filter(pk__gt=pk)
    rows = list(queryset.order_by("pk")[: limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (encode([rows[-1].pk]) if more and rows else None)
