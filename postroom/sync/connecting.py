"""Connecting a mailbox from a page, off the request thread.

The page records a ConnectionCheck (the password encrypted as a Mailbox's is) and a job
logs in, saves the mailbox only if the server accepted the login, reads its folders and
records the outcome; the page polls it. A web worker never waits for an IMAP server,
and what the page says about IMAP is one of a few sentences of ours: never a server's
own bytes, so that the form cannot be used to read what answers on other hosts' ports.

A mailbox with an SMTP server has its SMTP login checked in the same job (connect, EHLO,
TLS, AUTH; nothing sent: postroom.mailboxes.smtp_login), and so do changed SMTP settings
before they are saved. An SMTP server's refusal is shown in its own words, since they
say what is wrong with the login; what answers that is not SMTP is never repeated.

`postroom mailbox add` keeps logging in synchronously (service.verify_connection).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, replace
from datetime import timedelta

from django.db import transaction
from django.utils import timezone
from django_tasks import task

from postroom.mailboxes import personal
from postroom.mailboxes.actions import (
    ConnectionSettings,
    MailboxError,
    check_limits,
    do_add_mailbox,
    do_change_password,
    imap_server_refusal,
)
from postroom.mailboxes.models import ConnectionCheck, Mailbox
from postroom.mailboxes.smtp_login import (
    SmtpSettings,
    SmtpSettingsError,
    check_smtp_login,
    do_save_smtp,
    effective_login,
)

from . import imap
from .service import discover_folders, verify_connection, verify_password

logger = logging.getLogger(__name__)


Failure = ConnectionCheck.Failure

# One sentence per kind of failure: what the user can do, nothing the server said.
FAILURE_MESSAGES = {
    Failure.UNREACHABLE: "Could not connect to the server: check its name and port.",
    Failure.NOT_IMAP: (
        "The server did not answer as an IMAP server: check the port and the security."
    ),
    Failure.TLS: (
        "TLS with the server failed: check the security and the port (implicit TLS is "
        "usually 993, STARTTLS 143); a server with a certificate of its own needs "
        "“Accept a self-signed certificate”."
    ),
    Failure.REFUSED: "The server refused the login: check the username and the password.",
}
# options["purpose"] of a check of a saved mailbox's new password (else: connecting one).
NEW_PASSWORD = "new-password"  # noqa: S105 - a word, no secret
# options["purpose"] of a check of a saved mailbox's new SMTP settings.
NEW_SMTP = "new-smtp"
# A check still waiting after this long will not run (no job runner?): it is given up
# and its password wiped.
STALE_AFTER = timedelta(minutes=10)
# A check that is over is kept this long (its page may be reloaded), then deleted.
KEPT_FOR = timedelta(days=1)


def failure_of(exc: imap.SyncError) -> str:
    """The kind of a failed login, for its sentence."""
    if isinstance(exc, imap.AuthFailed):
        return Failure.REFUSED
    if isinstance(exc, imap.TlsFailed):
        return Failure.TLS
    if isinstance(exc, imap.Unreachable):
        return Failure.UNREACHABLE
    return Failure.NOT_IMAP  # a greeting or an answer that was not IMAP


def start_check(
    conn: ConnectionSettings, *, kind: str, requested_by, options: dict
) -> ConnectionCheck:
    """Record a check of `conn` and queue its job; MailboxError says why not at once.

    `options` are what the mailbox is saved with: crm_rule and initial_days for a
    shared one, the owner's PersonalSettings fields for a personal one.
    """
    if conn.imap_host and (reason := imap_server_refusal(conn.imap_host, conn.imap_port)):
        raise MailboxError(f"Not connected: {reason}.")
    if Mailbox.objects.filter(address__iexact=conn.address).exists():
        raise MailboxError(f"{conn.address} is already connected")
    # The administrator's limits, before a login is tried (saving checks them again).
    owner = requested_by if kind == Mailbox.Kind.PERSONAL else None
    check_limits(kind, owner, options.get("initial_days"))
    settings = asdict(replace(conn, password="", smtp_password=""))
    del settings["password"], settings["smtp_password"]
    check = ConnectionCheck(
        requested_by=requested_by, kind=kind, connection=settings, options=options
    )
    return _queue(check, conn.password, conn.smtp_password)


def start_smtp_check(mailbox: Mailbox, choice: SmtpSettings, *, requested_by) -> ConnectionCheck:
    """Record a check of a saved mailbox's new SMTP settings and queue its job: they are
    saved only if the server accepts the login."""
    check = ConnectionCheck(
        requested_by=requested_by,
        kind=mailbox.kind,
        connection={
            "address": mailbox.address,
            "smtp_host": choice.host,
            "smtp_port": choice.port,
            "smtp_security": choice.security,
            "smtp_username": choice.username,
        },
        options={"purpose": NEW_SMTP},
        mailbox=mailbox,
    )
    return _queue(check, "", choice.password)


def start_password_check(mailbox: Mailbox, password: str, *, requested_by) -> ConnectionCheck:
    """Record a check of a saved mailbox's new password and queue its job: the password
    is saved only if the server accepts it."""
    where = {"address": mailbox.address, "imap_host": mailbox.imap_host}
    check = ConnectionCheck(
        requested_by=requested_by,
        kind=mailbox.kind,
        connection={**where, "imap_port": mailbox.imap_port},
        options={"purpose": NEW_PASSWORD},
        mailbox=mailbox,
    )
    return _queue(check, password)


def _queue(check: ConnectionCheck, password: str, smtp_password: str = "") -> ConnectionCheck:
    give_up_stale_checks()
    # One at a time per user: the form cannot keep the job runners busy with logins.
    if ConnectionCheck.objects.filter(
        requested_by=check.requested_by, status=ConnectionCheck.Status.CHECKING
    ).exists():
        raise MailboxError("A connection of yours is being checked still: wait for it first")
    with transaction.atomic():
        check.set_password(password)
        check.set_smtp_password(smtp_password)
        check.save()
        check_connection.enqueue(check.pk)
    return check


def is_password_check(check: ConnectionCheck) -> bool:
    return check.options.get("purpose") == NEW_PASSWORD


def is_smtp_check(check: ConnectionCheck) -> bool:
    return check.options.get("purpose") == NEW_SMTP


def run_check(check_id: int) -> None:
    """Log in with the check's settings, save the mailbox, read its folders; record the
    outcome and wipe the password. A check that is over already is left alone."""
    check = ConnectionCheck.objects.filter(pk=check_id, status=ConnectionCheck.Status.CHECKING)
    check = check.select_related("requested_by").first()
    if check is None:
        return
    if give_up_if_stale(check):
        return
    if is_password_check(check):
        _run_password_check(check, check.get_password())
        return
    if is_smtp_check(check):
        _run_smtp_check(check, check.get_smtp_password())
        return
    conn = ConnectionSettings(
        **check.connection,
        password=check.get_password(),
        smtp_password=check.get_smtp_password(),
    )
    try:
        if conn.imap_host and (reason := imap_server_refusal(conn.imap_host, conn.imap_port)):
            _finish(check, failure=Failure.OTHER, outcome=f"Not connected: {reason}.")
            return
        if conn.imap_host:
            verify_connection(conn)
    except imap.SyncError as exc:
        failure = failure_of(exc)
        # The server's words go to the log for the administrator, not to the page.
        logger.info("connection check %s of %s: %s (%s)", check.pk, conn.address, failure, exc)
        _finish(check, failure=failure, outcome=FAILURE_MESSAGES[failure])
        return
    except Exception:  # noqa: BLE001 - imaplib's own errors on a garbled exchange
        logger.warning("connection check %s of %s", check.pk, conn.address, exc_info=True)
        _finish(check, failure=Failure.NOT_IMAP, outcome=FAILURE_MESSAGES[Failure.NOT_IMAP])
        return
    if conn.smtp_host:
        refusal = check_smtp_login(
            conn.smtp_host,
            conn.smtp_port or 0,
            conn.smtp_security,
            conn.smtp_username or conn.username,
            conn.smtp_password or conn.password,
            allow_self_signed=conn.allow_self_signed,
        )
        if refusal:
            _finish(check, failure=Failure.SMTP, outcome=refusal)
            return
    try:
        mailbox = _save(check, conn)
    except MailboxError as exc:
        _finish(check, failure=Failure.OTHER, outcome=f"Not connected: {exc}.")
        return
    if not mailbox.has_imap:
        _finish(check, outcome=f"Connected {mailbox.address}, fed by the ingress.", mailbox=mailbox)
        return
    try:
        folders = discover_folders(mailbox)
    except imap.SyncError:
        outcome = f"Connected {mailbox.address}; reading its folders failed: the next sync tries."
    else:
        synced = ", ".join(f.name for f in folders if f.is_synced)
        outcome = f"Connected {mailbox.address}: syncing {synced}."
    _finish(check, outcome=outcome, mailbox=mailbox)


def _run_password_check(check: ConnectionCheck, password: str) -> None:
    mailbox = check.mailbox
    if mailbox is None:  # disconnected meanwhile
        _finish(check, failure=Failure.OTHER, outcome="The mailbox is no longer connected.")
        return
    try:
        verify_password(mailbox, password)
    except imap.SyncError as exc:
        failure = failure_of(exc)
        logger.info("password check %s of %s: %s (%s)", check.pk, mailbox.address, failure, exc)
        _finish(check, failure=failure, outcome=FAILURE_MESSAGES[failure])
        return
    except Exception:  # noqa: BLE001 - imaplib's own errors on a garbled exchange
        logger.warning("password check %s of %s", check.pk, mailbox.address, exc_info=True)
        _finish(check, failure=Failure.NOT_IMAP, outcome=FAILURE_MESSAGES[Failure.NOT_IMAP])
        return
    do_change_password(mailbox, password, acting_user=check.requested_by)
    _finish(
        check,
        outcome=f"Password of {mailbox.address} changed: Postroom logged in with it, and "
        "sync goes on with it.",
    )


def _run_smtp_check(check: ConnectionCheck, password: str) -> None:
    mailbox = check.mailbox
    if mailbox is None:  # disconnected meanwhile
        _finish(check, failure=Failure.OTHER, outcome="The mailbox is no longer connected.")
        return
    where = check.connection
    choice = SmtpSettings(
        host=where.get("smtp_host", ""),
        port=where.get("smtp_port"),
        security=where.get("smtp_security", ""),
        username=where.get("smtp_username", ""),
        password=password,
    )
    username, effective_password = effective_login(mailbox, choice)
    refusal = check_smtp_login(
        choice.host,
        choice.port or 0,
        choice.security,
        username,
        effective_password,
        allow_self_signed=mailbox.allow_self_signed,
    )
    if refusal:
        _finish(check, failure=Failure.SMTP, outcome=f"SMTP settings not saved. {refusal}")
        return
    try:
        do_save_smtp(mailbox, choice, acting_user=check.requested_by)
    except SmtpSettingsError as exc:
        _finish(check, failure=Failure.OTHER, outcome=f"SMTP settings not saved: {exc}.")
        return
    _finish(
        check,
        outcome=f"SMTP settings of {mailbox.address} saved: {choice.host} accepted the login "
        f"of {username or '(no login)'}.",
    )


def give_up_if_stale(check: ConnectionCheck) -> bool:
    """Fail (and wipe) a check that waited past STALE_AFTER; whether it did."""
    if check.status != ConnectionCheck.Status.CHECKING:
        return False
    if timezone.now() - check.created_at < STALE_AFTER:
        return False
    _finish(
        check,
        failure=Failure.OTHER,
        outcome="The check did not run in time (is the job runner up?): try again.",
    )
    return True


def give_up_stale_checks() -> int:
    """Fail (and wipe) every check that waited past STALE_AFTER, and delete those over
    for longer than KEPT_FOR; how many were given up."""
    now = timezone.now()
    ConnectionCheck.objects.exclude(status=ConnectionCheck.Status.CHECKING).filter(
        finished_at__lt=now - KEPT_FOR
    ).delete()
    stale = ConnectionCheck.objects.filter(
        status=ConnectionCheck.Status.CHECKING, created_at__lt=now - STALE_AFTER
    )
    return sum(give_up_if_stale(check) for check in stale)


def _save(check: ConnectionCheck, conn: ConnectionSettings) -> Mailbox:
    options = check.options
    if check.kind == Mailbox.Kind.PERSONAL:
        choices = personal.PersonalSettings(**options)
        return personal.do_add_personal_mailbox(check.requested_by, conn, choices)
    return do_add_mailbox(
        conn,
        kind=Mailbox.Kind.SHARED,
        crm_rule=options["crm_rule"],
        initial_days=options["initial_days"],
    )


def _finish(
    check: ConnectionCheck, *, outcome: str, failure: str = "", mailbox: Mailbox | None = None
) -> None:
    check.status = ConnectionCheck.Status.FAILED if failure else ConnectionCheck.Status.CONNECTED
    check.failure, check.outcome = failure, outcome[:500]
    check.mailbox = mailbox or check.mailbox  # a password check's mailbox stays
    check.password_encrypted = ""  # the Mailbox keeps its own copy; the check none
    check.smtp_password_encrypted = ""
    check.finished_at = timezone.now()
    check.save(
        update_fields=[
            "status",
            "failure",
            "outcome",
            "mailbox",
            "password_encrypted",
            "smtp_password_encrypted",
            "finished_at",
        ]
    )


@task()
def check_connection(check_id: int) -> None:
    """The job of a page's connection check: only the check's id, never a password."""
    run_check(check_id)
