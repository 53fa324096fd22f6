"""Recording opens and clicks, straight in the request (no job queue in between).

One real open is counted once: loads of the same email by the same recipient from the
same source (IP address and User-Agent) within REPEAT_WINDOW after a recorded one are
the same open (a mail client that fetches the image twice, a reload, a replayed URL)
and write nothing. A click counts as an open too: when the recipient has no open from
that source in the window, the click writes one.

This is the hot path of the public endpoints (README "Tracking", the speed goal), so it
speaks SQL: one read of the email, then one INSERT ... SELECT ... WHERE NOT EXISTS per
event, which checks the repeat and writes in one statement. The ORM's query building
was most of a load's cost. Work beyond the event (the first-read notification, stage
triggers) runs only for a real open or click, and only when there is some to do.
"""

from __future__ import annotations

import hashlib
import json
import time
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from postroom import webhooks
from postroom.accounts.notify import KINDS, notify
from postroom.mail.models import ConversationMessage
from postroom.outbound.models import OutboxMessage

from . import tokens
from .clients import client_class, is_prefetch
from .models import TrackedEmail, TrackingEvent

Kind = TrackingEvent.Kind
REPEAT_WINDOW = timedelta(minutes=1)

# Literal table names (checked against the models below), never anything from input.
LOAD_SQL = (
    "SELECT e.recipients, e.links, o.sent_at, e.first_read_at IS NOT NULL "
    "FROM tracking_trackedemail e JOIN outbound_outboxmessage o ON o.id = e.outbox_id "
    "WHERE e.outbox_id = %s"
)
# The repeat check and the write in one statement (and one round trip).
WRITE_SQL = (
    "INSERT INTO tracking_trackingevent "
    "(email_id, recipient, kind, url, at, client, is_prefetch, source) "
    "SELECT %s, %s, %s, %s, %s, %s, %s, %s WHERE NOT EXISTS (SELECT 1 FROM "
    "tracking_trackingevent WHERE email_id = %s AND recipient = %s AND kind = %s "
    "AND source = %s AND url = %s AND at > %s)"
)
assert (TrackedEmail._meta.db_table, TrackingEvent._meta.db_table) == (
    "tracking_trackedemail",
    "tracking_trackingevent",
)
assert OutboxMessage._meta.db_table == "outbound_outboxmessage"


def source_of(ip: str, user_agent: str) -> str:
    """A digest of where a load came from: compared, never shown, no address stored."""
    return hashlib.sha256(f"{ip}\n{user_agent}".encode()).hexdigest()[:32]


def _json(value) -> list:
    return json.loads(value) if isinstance(value, (str, bytes)) else (value or [])


def _aware(value) -> datetime | None:
    if isinstance(value, str):  # SQLite hands back text
        value = parse_datetime(value)
    if value is not None and timezone.is_naive(value):
        value = value.replace(tzinfo=UTC)
    return value


class DjangoStore:
    """Reads and writes through Django's connection (the views; SQLite)."""

    def load(self, email_id: int) -> tuple | None:
        with connection.cursor() as cursor:
            cursor.execute(LOAD_SQL, [email_id])
            return cursor.fetchone()

    def write(self, params: list) -> bool:
        """Write the event unless it repeats one within the window; True if written."""
        params[4] = connection.ops.adapt_datetimefield_value(params[4])
        params[13] = connection.ops.adapt_datetimefield_value(params[13])
        with connection.cursor() as cursor:
            cursor.execute(WRITE_SQL, params)
            return cursor.rowcount == 1


_DJANGO = DjangoStore()
# Recipients, links and the sending time of an email do not change once it is tracked:
# kept per process for CACHE_SECONDS, so that a load costs one statement. A deleted
# email's token still fails (the event's foreign key), and its entry is dropped.
CACHE_SECONDS = 30.0
CACHE_SIZE = 10_000
_cache: dict[int, tuple[float, list, list, datetime | None]] = {}
_read: set[int] = set()  # emails this process saw read (no first-read update to try)


def forget_cached() -> None:
    _cache.clear()
    _read.clear()


def _email(store, email_id: int) -> tuple[list, list, datetime | None] | None:
    now = time.monotonic()
    hit = _cache.get(email_id)
    if hit is not None and now - hit[0] < CACHE_SECONDS:
        return hit[1:]
    row = store.load(email_id)
    if row is None:
        _cache.pop(email_id, None)
        return None
    found = (_json(row[0]), _json(row[1]), _aware(row[2]))
    if row[3]:
        _read.add(email_id)
    if found[2] is not None:  # sent: nothing in it changes any more
        if len(_cache) >= CACHE_SIZE:
            _cache.clear()
        _cache[email_id] = (now, *found)
    return found


def _load(store, kind: str, token: str) -> tuple[int, str, str, datetime | None] | None:
    """(email id, recipient, the link's URL or "", sent at) of a token, None if it
    names nothing."""
    numbers = tokens.read(kind, token)
    if numbers is None:
        return None
    found = _email(store, numbers[0])
    if found is None:
        return None
    recipients, links, sent_at = found
    if numbers[1] >= len(recipients):
        return None
    url = ""
    if kind == "click":
        if numbers[2] >= len(links):
            return None
        url = links[numbers[2]]
    return numbers[0], recipients[numbers[1]], url, sent_at


def record(kind: str, token: str, *, ip: str, user_agent: str, store=None) -> str | None:
    """Record a load of an image ("open") or a link ("click"); returns the link's URL
    for a click, "" for an open, None when the token names nothing (a 404). `store`:
    where to read and write (fastpath's own PostgreSQL connection), Django's by default."""
    store = store or _DJANGO
    found = _load(store, kind, token)
    if found is None:
        return None
    email_id, recipient, url, sent_at = found
    now = timezone.now()
    user_agent = (user_agent or "")[:500]
    client = client_class(user_agent)
    since_sent = (now - sent_at).total_seconds() if sent_at else 0.0
    prefetch = is_prefetch(client, since_sent, settings.POSTROOM["TRACKING_PREFETCH_SECONDS"])
    source = source_of(ip, user_agent)
    window = now - REPEAT_WINDOW

    def write(kind: str, url: str = "") -> bool:
        return store.write([email_id, recipient, kind, url, now, client, prefetch, source,
                            email_id, recipient, kind, source, url, window])  # fmt: skip

    try:
        # Autocommit, one statement each: an open written is kept even if the click
        # after it fails.
        opened = write(Kind.OPEN)
        clicked = kind == "click" and write(Kind.CLICK, url)
    except IntegrityError:
        _cache.pop(email_id, None)
        return None  # the email was deleted
    if prefetch:
        return url
    if opened and email_id not in _read:
        _first_read(email_id, recipient, now)
        _read.add(email_id)
    if opened or clicked:
        _fire_triggers(email_id, Kind.CLICK if clicked else Kind.OPEN, recipient, now)
    if opened:
        webhooks.emit("email.opened", email_id, recipient=recipient, client=client)
    if clicked:
        webhooks.emit("email.clicked", email_id, recipient=recipient, url=url, client=client)
    return url


def _fire_triggers(email_id: int, kind: str, recipient: str, now) -> None:
    from .triggers import fire  # the hot path imports the CRM side only when it acts

    fire(email_id, kind, recipient=recipient, at=now)


def _first_read(email_id: int, recipient: str, now) -> None:
    """The first real open of the email: noted once (a conditional update, so that two
    requests at once cannot both be first), and the sender told."""
    with transaction.atomic():
        first = TrackedEmail.objects.filter(pk=email_id, first_read_at__isnull=True).update(
            first_read_at=now
        )
        if not first:
            return
        outbox = OutboxMessage.objects.only(
            "author", "subject", "conversation", "stored_message"
        ).get(pk=email_id)
        if outbox.author_id is None:
            return
        conversation_id = outbox.conversation_id or (
            ConversationMessage.objects.filter(message_id=outbox.stored_message_id)
            .values_list("conversation_id", flat=True)
            .first()
        )
        url = reverse("web:conversation", args=[conversation_id]) if conversation_id else ""
        text = f"{recipient} read “{outbox.subject or '(no subject)'}”"
        author = outbox.author
        # The sender's choice of this kind (in the app, by email, or not at all) applies.
        transaction.on_commit(lambda: notify(author, KINDS.EMAIL_OPENED, text, url))
