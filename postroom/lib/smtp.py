"""Every SMTP connection Postroom opens for sending starts here.

One function, `send`, hands one email to the mailbox's SMTP server and says, by the
exception it raises, what a failure means for the Outbox: try again later
(TemporaryFailure), give up and tell the sender (PermanentFailure), or try again
later but look in the Sent folder first, because the server may have taken it
(MaybeDelivered). `verify` goes as far as the login and sends nothing: what connecting
a mailbox and saving its SMTP settings check. No Django here (the lowest layer), so
that the connection checks of postroom.sync and the Outbox of postroom.outbound share it.
"""

import smtplib
import ssl
from collections.abc import Sequence
from dataclasses import dataclass, field

from postroom.lib.tls import client_context


class SendError(Exception):
    """The email was not handed over; the message carries the server's words."""


class TemporaryFailure(SendError):
    """A 4xx reply, a timeout, a refused or broken connection: retry later."""


class MaybeDelivered(TemporaryFailure):
    """The connection broke after the message's data went out: the server may have it."""


class PermanentFailure(SendError):
    """A 5xx reply, a refused login, a TLS problem: sending again will not help."""


class AuthRefused(PermanentFailure):
    pass


class TlsRefused(PermanentFailure):
    pass


class NotSmtp(PermanentFailure):
    """What answered is not an SMTP server (its bytes are not repeated)."""


@dataclass(frozen=True)
class SmtpServer:
    host: str
    port: int
    security: str  # ssl | starttls | none
    username: str = ""
    password: str = ""
    allow_self_signed: bool = False  # the mailbox's switch, as for its IMAP server

    def __repr__(self) -> str:  # keep the password out of tracebacks and logs
        return f"SmtpServer({self.username}@{self.host}:{self.port}, {self.security})"


@dataclass(frozen=True)
class Accepted:
    """The server took the email; `refused` are recipients it turned down meanwhile."""

    refused: dict[str, str] = field(default_factory=dict)


def _words(code: int, message: bytes | str) -> str:
    text = message.decode("utf-8", "replace") if isinstance(message, bytes) else str(message)
    return f"{code} {' '.join(text.split())}"


def _failure(where: str, code: int, message: bytes | str) -> SendError:
    words = f"{where}: {_words(code, message)}"
    return TemporaryFailure(words) if 400 <= code < 500 else PermanentFailure(words)


def _connect(server: SmtpServer, timeout: float, context: ssl.SSLContext | None) -> smtplib.SMTP:
    where = f"{server.host}:{server.port}"
    try:
        if server.security == "ssl":
            return smtplib.SMTP_SSL(server.host, server.port, timeout=timeout, context=context)
        return smtplib.SMTP(server.host, server.port, timeout=timeout)
    except ssl.SSLCertVerificationError as exc:
        raise TlsRefused(f"the certificate of {where} is not valid: {exc.verify_message}") from exc
    except ssl.SSLError as exc:
        if exc.reason == "WRONG_VERSION_NUMBER":
            raise TlsRefused(
                f"{where} did not answer in TLS: a plain or STARTTLS port? "
                "(implicit TLS is usually port 465)"
            ) from exc
        raise TemporaryFailure(f"TLS with {where} failed: {exc}") from exc
    except smtplib.SMTPConnectError as exc:
        if not 200 <= exc.smtp_code <= 599:  # no SMTP greeting: some other service
            raise NotSmtp(f"{where} did not answer as an SMTP server") from exc
        raise _failure(f"{where} refused the connection", exc.smtp_code, exc.smtp_error) from exc
    except TimeoutError as exc:
        raise TemporaryFailure(f"{where} did not answer within {timeout:g} s") from exc
    except OSError as exc:  # refused, unreachable, reset, a TLS handshake cut short
        raise TemporaryFailure(f"cannot connect to {where}: {exc.strerror or exc}") from exc


def _secure_and_log_in(
    client: smtplib.SMTP, server: SmtpServer, context: ssl.SSLContext | None
) -> None:
    where = f"{server.host}:{server.port}"
    client.ehlo_or_helo_if_needed()
    if server.security == "starttls":
        # Never a silent downgrade: a server (or someone in between) that does not
        # offer STARTTLS gets nothing, rather than the password and the mail in clear.
        if not client.has_extn("starttls"):
            raise TlsRefused(f"{where} does not offer STARTTLS; Postroom will not send in clear")
        try:
            client.starttls(context=context)
        except ssl.SSLCertVerificationError as exc:
            raise TlsRefused(
                f"the certificate of {where} is not valid: {exc.verify_message}"
            ) from exc
        client.ehlo()
    if client.has_extn("auth") and server.username:
        try:
            client.login(server.username, server.password)
        except smtplib.SMTPAuthenticationError as exc:
            raise AuthRefused(
                f"{where} refused the login of {server.username}: "
                f"{_words(exc.smtp_code, exc.smtp_error)}; check the mailbox's password"
            ) from exc
        except smtplib.SMTPNotSupportedError as exc:
            raise AuthRefused(f"{where} offers no login method Postroom knows: {exc}") from exc


def verify(server: SmtpServer, *, timeout: float = 30.0) -> None:
    """Connect, EHLO, STARTTLS or TLS as the server is set up, and log in; send nothing.

    Raises what `send` would raise for the same fault (AuthRefused with the server's
    words for a refused login, TlsRefused, NotSmtp, TemporaryFailure for a dead port or
    a timeout). A server that offers no AUTH passes: sending logs in only where it can.
    """
    where = f"{server.host}:{server.port}"
    tls = server.security in ("ssl", "starttls")
    context = client_context(server.allow_self_signed, peer=where) if tls else None
    client = _connect(server, timeout, context)
    try:
        _secure_and_log_in(client, server, context)
    except SendError:
        raise
    except smtplib.SMTPResponseException as exc:
        raise _failure(where, exc.smtp_code, exc.smtp_error) from exc
    except (smtplib.SMTPException, OSError) as exc:
        raise TemporaryFailure(
            f"the connection to {where} broke: {exc or type(exc).__name__}"
        ) from exc
    finally:
        try:
            client.quit()
        except (smtplib.SMTPException, OSError):
            client.close()


def _mail_options(
    client: smtplib.SMTP, where: str, sender: str, recipients: Sequence[str], raw: bytes
) -> list[str]:
    """MAIL FROM's parameters: SMTPUTF8 (RFC 6531) for an internationalised email, a
    UTF-8 address or UTF-8 in its headers, when the server offers it.

    A UTF-8 address cannot go to a server without SMTPUTF8 (it has no ASCII form): a
    permanent failure that says so. UTF-8 only in the headers (a reply to a UTF-8
    Message-ID) goes as it is, as 8BITMIME where offered: such servers pass it on.
    """
    addresses_ascii = sender.isascii() and all(r.isascii() for r in recipients)
    end = raw.find(b"\r\n\r\n")
    headers_ascii = raw[: end if end >= 0 else len(raw)].isascii()
    if addresses_ascii and headers_ascii:
        return []
    if client.has_extn("smtputf8"):
        return ["SMTPUTF8", "BODY=8BITMIME"] if client.has_extn("8bitmime") else ["SMTPUTF8"]
    if not addresses_ascii:
        raise PermanentFailure(
            f"{where} does not accept internationalised (UTF-8) addresses: it offers no SMTPUTF8"
        )
    return ["BODY=8BITMIME"] if client.has_extn("8bitmime") else []


def send(
    server: SmtpServer,
    sender: str,
    recipients: Sequence[str],
    raw: bytes,
    *,
    timeout: float = 30.0,
) -> Accepted:
    """Hand one email to the server; raise a SendError subclass that says what to do."""
    where = f"{server.host}:{server.port}"
    # Made only for TLS: loading the system's CAs costs ~20 ms, a third of a whole
    # delivery on a local relay.
    tls = server.security in ("ssl", "starttls")
    context = client_context(server.allow_self_signed, peer=where) if tls else None
    client = _connect(server, timeout, context)
    data_sent = False
    try:
        _secure_and_log_in(client, server, context)
        code, message = client.mail(sender, _mail_options(client, where, sender, recipients, raw))
        if code != 250:
            raise _failure(f"{where} refused the sender {sender}", code, message)
        refused = {}
        for recipient in recipients:
            code, message = client.rcpt(recipient)
            if code not in (250, 251):
                refused[recipient] = _words(code, message)
        if len(refused) == len(recipients):
            first = next(iter(refused.values()), "no recipients")
            temporary = any(words.startswith("4") for words in refused.values())
            error = TemporaryFailure if temporary else PermanentFailure
            raise error(f"{where} refused every recipient: {first}")
        try:
            data_sent = True
            code, message = client.data(raw)
        except smtplib.SMTPDataError as exc:  # the DATA command itself was refused
            data_sent = False
            raise _failure(f"{where} refused the message", exc.smtp_code, exc.smtp_error) from exc
        if code != 250:
            raise _failure(f"{where} refused the message", code, message)
        return Accepted(refused=refused)
    except SendError:
        raise
    except smtplib.SMTPResponseException as exc:
        raise _failure(where, exc.smtp_code, exc.smtp_error) from exc
    except (smtplib.SMTPException, OSError) as exc:
        # A connection lost while the data went out, or before the reply to it came
        # back: the server may have queued the email, so it is not simply resent.
        error = MaybeDelivered if data_sent else TemporaryFailure
        raise error(f"the connection to {where} broke: {exc or type(exc).__name__}") from exc
    finally:
        try:
            client.quit()
        except (smtplib.SMTPException, OSError):
            client.close()
