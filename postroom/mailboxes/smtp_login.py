"""A mailbox's SMTP server and login: checked before they are saved, as its IMAP login
is (postroom/sync/connecting.py runs the check in a job), and saved by `do_save_smtp`.

The check goes as far as the login and sends nothing (postroom.lib.smtp.verify). A
refusal is told in the server's own words ("535 5.7.8 Authentication credentials
invalid"): they say what is wrong with the login. What answers on a port that is not an
SMTP server is never repeated.
"""

import logging
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction

from postroom.lib import smtp

from .models import Mailbox, Security

logger = logging.getLogger(__name__)

# The server's words are shown up to this long.
MAX_WORDS = 300


class SmtpSettingsError(ValueError):
    """SMTP settings that cannot be saved as given; the message says why."""


@dataclass(frozen=True)
class SmtpSettings:
    """What a mailbox's managers set about sending. An empty host: no SMTP server (the
    mailbox cannot send). An empty username logs in with the IMAP one; an empty password
    keeps the current SMTP password (or, with none, uses the IMAP one)."""

    host: str
    port: int | None
    security: str
    username: str = ""
    password: str = ""

    def __repr__(self) -> str:  # never the password in a traceback or a log
        return f"SmtpSettings({self.username or '-'}@{self.host}:{self.port}, {self.security})"


def smtp_settings_refusal(choice: SmtpSettings) -> str:
    """Why these settings cannot be saved as they are; "" when they can."""
    if not choice.host:
        return ""
    if not choice.port or not 1 <= choice.port <= 65535:
        return "an SMTP server needs a port (587 for STARTTLS, 465 for implicit TLS)"
    if choice.security not in Security.values:
        return "choose the SMTP server's security"
    return ""


def effective_login(mailbox: Mailbox, choice: SmtpSettings) -> tuple[str, str]:
    """(username, password) the mailbox will log in with once `choice` is saved."""
    username = choice.username or mailbox.username
    if choice.password:
        return username, choice.password
    return username, mailbox.smtp_login()[1]


def check_smtp_login(
    host: str,
    port: int,
    security: str,
    username: str,
    password: str,
    *,
    allow_self_signed: bool = False,
) -> str:
    """Log in to the SMTP server without sending: "" when it accepted, else a sentence
    for the page, with the server's words where it answered as an SMTP server."""
    server = smtp.SmtpServer(
        host=host,
        port=port,
        security=security or Security.NONE,
        username=username,
        password=password,
        allow_self_signed=allow_self_signed,
    )
    timeout = min(float(settings.POSTROOM["SMTP_TIMEOUT"]), 20.0)
    try:
        smtp.verify(server, timeout=timeout)
    except smtp.SendError as exc:
        logger.info("SMTP check of %r: %s", server, exc)
        words = " ".join(str(exc).split())[:MAX_WORDS]
        return f"The SMTP check failed: {words}."
    except Exception:  # noqa: BLE001 - smtplib's own errors on a garbled exchange
        logger.warning("SMTP check of %r", server, exc_info=True)
        return f"The SMTP server {host}:{port} did not answer as an SMTP server."
    return ""


@transaction.atomic
def do_save_smtp(mailbox: Mailbox, choice: SmtpSettings, *, acting_user) -> Mailbox:
    """Save the mailbox's SMTP server and login; the caller has checked the login (or the
    host is empty: the mailbox no longer sends). SmtpSettingsError says why not."""
    if reason := smtp_settings_refusal(choice):
        raise SmtpSettingsError(reason)
    mailbox = Mailbox.objects.select_for_update().get(pk=mailbox.pk)
    mailbox.smtp_host = choice.host
    mailbox.smtp_port = choice.port if choice.host else None
    mailbox.smtp_security = choice.security if choice.host else ""
    mailbox.smtp_username = choice.username if choice.host else ""
    fields = ["smtp_host", "smtp_port", "smtp_security", "smtp_username"]
    if choice.password or not choice.host:
        mailbox.set_smtp_password(choice.password if choice.host else "")
        fields.append("smtp_password_encrypted")
    mailbox.save(update_fields=fields)
    who = f"user {acting_user.pk}" if acting_user else "the command line"
    logger.info("SMTP settings of mailbox %s changed by %s", mailbox.address, who)
    return mailbox
