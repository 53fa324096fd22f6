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
from urllib.parse import unquote, urlsplit

from django.conf import settings
from django.db import transaction

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


def send_email(email_id: int) -> str:
    """The job: send one notification email once; returns its status. A failure raises
    (the job runs again, three runs in all) after recording the error."""
    from django.core.mail import EmailMessage, get_connection
    from django.utils import timezone

    with transaction.atomic():
        row = NotificationEmail.objects.select_for_update().filter(pk=email_id).first()
        if row is None or row.status != NotificationEmail.Status.QUEUED:
            return row.status if row else "gone"
        why_not = email_configured()
        if why_not:
            row.status, row.last_error = NotificationEmail.Status.SKIPPED, why_not
            row.save(update_fields=["status", "last_error"])
            logger.info("notification email %s skipped: %s", row.pk, why_not)
            return row.status
        row.attempts += 1
        row.save(update_fields=["attempts"])
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
        NotificationEmail.objects.filter(pk=row.pk).update(last_error=repr(exc)[:1000])
        if row.attempts >= 3:
            NotificationEmail.objects.filter(pk=row.pk).update(
                status=NotificationEmail.Status.FAILED
            )
            logger.warning("notification email %s failed: %r", row.pk, exc)
            return NotificationEmail.Status.FAILED
        raise
    NotificationEmail.objects.filter(pk=row.pk).update(
        status=NotificationEmail.Status.SENT, sent_at=timezone.now()
    )
    return NotificationEmail.Status.SENT
