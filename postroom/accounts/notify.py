"""Telling colleagues: one service for every notification, in the app and by email.

    notify(user, "deadline_breached", "“Invoice” waited past its deadline", url)
    notify_many([(user, kind, text, url), ...])     # set-wise, for batches

Each user chooses per kind (NotificationPreference; no row: in the app, not by email).
A notification in the app is a Notification row (the header's badge and list); one by
email is a NotificationEmail row written in the caller's transaction with its job, sent
once from the system sender (POSTROOM_NOTIFY_FROM) through POSTROOM_NOTIFY_SMTP, to the
user's own address: a colleague's, never a customer's. No outgoing server configured:
no email row, and the log says why.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import timedelta
from urllib.parse import unquote, urlsplit

from django.conf import settings
from django.db import models, transaction
from django.utils import timezone

from .models import Notification, NotificationEmail, NotificationKind, NotificationPreference

logger = logging.getLogger(__name__)

KINDS = NotificationKind
DEFAULT_IN_APP = True
DEFAULT_BY_EMAIL = False


def notify(user, kind: str, text: str, url: str = "") -> Notification | None:
    """Tell one user; returns the in-app notification (None when they chose email only,
    or are deactivated)."""
    created = notify_many([(user, kind, text, url)])
    return created[0] if created else None


def notify_many(items: Iterable[tuple]) -> list[Notification]:
    """Tell several users at once, each (user, kind, text, url) by the user's choices:
    one query for the choices, one insert for the app, one for the emails."""
    items = [(u, _kind(k), t, url) for u, k, t, url in items if u is not None and u.is_active]
    if not items:
        return []
    prefs = preferences_of({u.pk for u, *_ in items})
    in_app, emails = [], []
    for user, kind, text, url in items:
        show, mail = prefs.get((user.pk, kind), (DEFAULT_IN_APP, DEFAULT_BY_EMAIL))
        if show:
            in_app.append(Notification(user=user, kind=kind, text=text, url=url))
        if mail:
            emails.append((user, kind, text, url))
    created = Notification.objects.bulk_create(in_app) if in_app else []
    if emails:
        _queue_emails(emails)
    return created


def preferences_of(user_ids: Iterable[int]) -> dict[tuple[int, str], tuple[bool, bool]]:
    rows = NotificationPreference.objects.filter(user_id__in=list(user_ids))
    return {(p.user_id, p.kind): (p.in_app, p.by_email) for p in rows}


def choices_of(user) -> list[dict]:
    """Every kind with the user's choice, for the preferences page."""
    prefs = preferences_of([user.pk])
    return [
        {
            "kind": value,
            "label": label,
            "in_app": prefs.get((user.pk, value), (DEFAULT_IN_APP, DEFAULT_BY_EMAIL))[0],
            "by_email": prefs.get((user.pk, value), (DEFAULT_IN_APP, DEFAULT_BY_EMAIL))[1],
        }
        for value, label in KINDS.choices
    ]


@transaction.atomic
def do_set_preferences(user, choices: dict[str, tuple[bool, bool]]) -> None:
    """Save the user's (in_app, by_email) per kind; unknown kinds are refused."""
    for kind, (in_app, by_email) in choices.items():
        NotificationPreference.objects.update_or_create(
            user=user, kind=_kind(kind), defaults={"in_app": in_app, "by_email": by_email}
        )


def _kind(kind: str) -> str:
    if kind not in KINDS.values:
        raise ValueError(f"unknown notification kind {kind!r}")
    return kind


# ------------------------------------------------------------------- email


def email_configured() -> str:
    """Why no notification email can go out ("" when one can)."""
    if not settings.POSTROOM.get("NOTIFY_SMTP"):
        return "no outgoing server for notifications (POSTROOM_NOTIFY_SMTP)"
    if not settings.POSTROOM.get("NOTIFY_FROM"):
        return "no sender for notifications (POSTROOM_NOTIFY_FROM)"
    return ""


def _queue_emails(emails: list[tuple]) -> None:
    why_not = email_configured()
    if why_not:
        logger.info("%s notification email(s) not sent: %s", len(emails), why_not)
        return
    rows = []
    for user, kind, text, url in emails:
        if not user.email or "@" not in user.email:
            logger.info("notification email to user %s not sent: no address", user.pk)
            continue
        subject = " ".join(text.split())
        subject = subject if len(subject) <= 120 else subject[:119] + "…"
        body = text + (f"\n\n{absolute(url)}" if url else "") + _FOOTER
        rows.append(
            NotificationEmail(user=user, kind=kind, to=user.email, subject=subject, body=body)
        )
    if not rows:
        return
    created = NotificationEmail.objects.bulk_create(rows)
    from .jobs import send_notification_email  # the job module imports this one

    for row in created:
        # The database queue writes the job in the caller's transaction; Celery, on commit.
        send_notification_email.enqueue(row.pk)


_FOOTER = "\n\n-- \nPostroom: choose what you are told, and how, under Notifications → Settings."


def absolute(url: str) -> str:
    base = settings.POSTROOM.get("BASE_URL", "").rstrip("/")
    return f"{base}{url}" if base and url.startswith("/") else url


def smtp_settings() -> dict:
    """POSTROOM_NOTIFY_SMTP parsed: smtp://[user:pw@]host:port (plain),
    smtp+starttls://... or smtps://... (TLS)."""
    parts = urlsplit(settings.POSTROOM["NOTIFY_SMTP"])
    return {
        "host": parts.hostname or "",
        "port": parts.port or (465 if parts.scheme == "smtps" else 25),
        "username": unquote(parts.username or ""),
        "password": unquote(parts.password or ""),
        "use_ssl": parts.scheme == "smtps",
        "use_tls": parts.scheme == "smtp+starttls",
    }


# An attempt still `sending` after this long lost its job runner (each attempt's network
# waits are bounded by SMTP_TIMEOUT); a `queued` email this old lost its job.
STALE_AFTER = timedelta(minutes=15)
MAX_ATTEMPTS = 3


def send_email(email_id: int) -> str:
    """The job: send one notification email once; returns its status. The attempt is
    claimed (status sending) in its own commit before SMTP is spoken, so a second job
    for the same email sends nothing. A failure is recorded and raises (the job runs
    again) until MAX_ATTEMPTS, then the email is marked failed."""
    from django.core.mail import EmailMessage, get_connection

    Status = NotificationEmail.Status
    with transaction.atomic():
        row = NotificationEmail.objects.select_for_update().filter(pk=email_id).first()
        if row is None or row.status != Status.QUEUED:
            return row.status if row else "gone"
        why_not = email_configured()
        if why_not:
            row.status, row.last_error = Status.SKIPPED, why_not
            row.save(update_fields=["status", "last_error"])
            logger.info("notification email %s skipped: %s", row.pk, why_not)
            return row.status
        row.attempts += 1
        row.status, row.claimed_at = Status.SENDING, timezone.now()
        row.save(update_fields=["attempts", "status", "claimed_at"])
    config = smtp_settings()
    timeout = settings.POSTROOM.get("SMTP_TIMEOUT", 30)
    connection = get_connection(
        "django.core.mail.backends.smtp.EmailBackend", timeout=timeout, **config
    )
    message = EmailMessage(
        row.subject,
        row.body,
        settings.POSTROOM["NOTIFY_FROM"],
        [row.to],
        headers={"Auto-Submitted": "auto-generated", "X-Postroom-Notification": row.kind},
        connection=connection,
    )
    try:
        message.send()
    except Exception as exc:
        final = row.attempts >= MAX_ATTEMPTS
        status = Status.FAILED if final else Status.QUEUED
        NotificationEmail.objects.filter(pk=row.pk).update(
            status=status, last_error=repr(exc)[:1000]
        )
        logger.warning("notification email %s: attempt %s failed: %r", row.pk, row.attempts, exc)
        if final:
            return Status.FAILED
        raise
    NotificationEmail.objects.filter(pk=row.pk).update(status=Status.SENT, sent_at=timezone.now())
    return Status.SENT


def requeue_stalled(now=None) -> int:
    """Queue again the notification emails whose job was lost (a dead runner, a broker
    down at commit) or whose attempt died mid-way; safe at any time (housekeeping)."""
    from .jobs import send_notification_email

    now = now or timezone.now()
    Status = NotificationEmail.Status
    stale = now - STALE_AFTER
    with transaction.atomic():
        NotificationEmail.objects.filter(status=Status.SENDING, claimed_at__lt=stale).update(
            status=Status.QUEUED
        )
        lost = list(
            NotificationEmail.objects.filter(status=Status.QUEUED, created_at__lt=stale)
            .filter(models.Q(claimed_at__isnull=True) | models.Q(claimed_at__lt=stale))
            .values_list("pk", flat=True)[:1000]
        )
        NotificationEmail.objects.filter(pk__in=lost).update(claimed_at=now)
        for pk in lost:
            send_notification_email.enqueue(pk)
    if lost:
        logger.warning("%s notification email(s) had lost their job: queued again", len(lost))
    return len(lost)
