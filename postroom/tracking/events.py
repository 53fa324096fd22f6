"""Recording opens and clicks, straight in the request (no job queue in between).

One real open is counted once: loads of the same email by the same recipient from the
same source (IP address and User-Agent) within REPEAT_WINDOW after a recorded one are
the same open (a mail client that fetches the image twice, a reload, a replayed URL)
and write nothing. A click counts as an open too: when the recipient has no open from
that source in the window, the click writes one.
"""

import hashlib
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from postroom.accounts.notify import KINDS, notify
from postroom.mail.models import ConversationMessage

from . import tokens
from .clients import client_class, is_prefetch
from .models import TrackedEmail, TrackingEvent

Kind = TrackingEvent.Kind
REPEAT_WINDOW = timedelta(minutes=1)


def source_of(ip: str, user_agent: str) -> str:
    """A digest of where a load came from: compared, never shown, no address stored."""
    return hashlib.sha256(f"{ip}\n{user_agent}".encode()).hexdigest()[:32]


def _load(kind: str, token: str) -> tuple[TrackedEmail, str, str] | None:
    """(the email, the recipient, the link's URL or "") a token names, None if none."""
    numbers = tokens.read(kind, token)
    if numbers is None:
        return None
    tracked = (
        TrackedEmail.objects.select_related("outbox")
        .defer("outbox__raw", "outbox__composition", "delivered")
        .filter(pk=numbers[0])
        .first()
    )
    if tracked is None or numbers[1] >= len(tracked.recipients):
        return None
    url = ""
    if kind == "click":
        if numbers[2] >= len(tracked.links):
            return None
        url = tracked.links[numbers[2]]
    return tracked, tracked.recipients[numbers[1]], url


def _repeated(tracked, recipient, kind, source, now, url="") -> bool:
    return TrackingEvent.objects.filter(
        email=tracked, recipient=recipient, kind=kind, source=source, url=url,
        at__gt=now - REPEAT_WINDOW,
    ).exists()  # fmt: skip


def _write(tracked, recipient, kind, source, client, prefetch, now, url="") -> None:
    TrackingEvent.objects.create(
        email=tracked, recipient=recipient, kind=kind, url=url, at=now,
        client=client, is_prefetch=prefetch, source=source,
    )  # fmt: skip


def record(kind: str, token: str, *, ip: str, user_agent: str) -> str | None:
    """Record a load of an image ("open") or a link ("click"); returns the link's URL
    for a click, "" for an open, None when the token names nothing (a 404)."""
    found = _load(kind, token)
    if found is None:
        return None
    tracked, recipient, url = found
    now = timezone.now()
    user_agent = (user_agent or "")[:500]
    client = client_class(user_agent)
    sent_at = tracked.outbox.sent_at
    since = (now - sent_at).total_seconds() if sent_at else 0.0
    prefetch = is_prefetch(client, since, settings.POSTROOM["TRACKING_PREFETCH_SECONDS"])
    source = source_of(ip, user_agent)
    with transaction.atomic():
        opened = False
        if not _repeated(tracked, recipient, Kind.OPEN, source, now):
            _write(tracked, recipient, Kind.OPEN, source, client, prefetch, now)
            opened = not prefetch
        if kind == "click" and not _repeated(tracked, recipient, Kind.CLICK, source, now, url):
            _write(tracked, recipient, Kind.CLICK, source, client, prefetch, now, url)
        if opened:
            _first_read(tracked, recipient, now)
    return url


def _first_read(tracked: TrackedEmail, recipient: str, now) -> None:
    """The first real open of the email: noted once (a conditional update, so that two
    requests at once cannot both be first), and the sender told."""
    first = TrackedEmail.objects.filter(pk=tracked.pk, first_read_at__isnull=True).update(
        first_read_at=now
    )
    outbox = tracked.outbox
    if not first or outbox.author is None:
        return
    conversation_id = outbox.conversation_id or (
        ConversationMessage.objects.filter(message_id=outbox.stored_message_id)
        .values_list("conversation_id", flat=True)
        .first()
    )
    url = reverse("web:conversation", args=[conversation_id]) if conversation_id else ""
    text = f"{recipient} read “{outbox.subject or '(no subject)'}”"
    # The sender's choice of this kind (in the app, by email, or not at all) applies.
    transaction.on_commit(lambda: notify(outbox.author, KINDS.EMAIL_OPENED, text, url))
