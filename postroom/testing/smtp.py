"""An SMTP server for tests that accepts mail and keeps it in memory instead of sending it.

Built on aiosmtpd's threaded ``Controller``; it can require AUTH (PLAIN/LOGIN without TLS,
as the app's SMTP client is configured in tests) and can be told to answer the next
commands with an error so that retry code paths can be exercised.

With ``tls="implicit"`` it speaks TLS from the first byte (as on port 465); with
``tls="starttls"`` it offers STARTTLS and refuses mail before it (as on port 587). Either
presents a fresh self-signed certificate for 127.0.0.1 and localhost (postroom.testing.tls),
written to ``cert_path`` so that a test can trust it (SSL_CERT_FILE) or not.
"""

from __future__ import annotations

import email
import email.policy
import hmac
import shutil
import ssl
import tempfile
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, cast

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from postroom.testing.dovecot import HOST, free_port
from postroom.testing.tls import write_self_signed

__all__ = ["CapturedMail", "CapturingSMTPServer", "Stage", "Tls"]

Stage = Literal["MAIL", "RCPT", "DATA"]
Tls = Literal["none", "implicit", "starttls"]


@dataclass
class CapturedMail:
    """One accepted message, as the client sent it."""

    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    # The AUTH login the client used, None when it did not authenticate.
    login: str | None = None
    # MAIL FROM's parameters (SMTPUTF8, BODY=8BITMIME, ...).
    mail_options: list[str] = field(default_factory=list)

    @property
    def message(self) -> EmailMessage:
        """``data`` parsed with the modern email policy."""
        return cast(EmailMessage, email.message_from_bytes(self.data, policy=email.policy.default))


@dataclass
class _Failure:
    stage: Stage
    code: int
    message: str
    remaining: int


@dataclass
class _State:
    """What the handler (in the server's thread) and the test (in its own) share."""

    credentials: dict[str, str] | None
    messages: list[CapturedMail] = field(default_factory=list)
    failures: deque[_Failure] = field(default_factory=deque)
    changed: threading.Condition = field(default_factory=threading.Condition)
    on_accept: Callable[[CapturedMail], None] | None = None

    def take_failure(self, stage: Stage) -> str | None:
        """The reply for this command if a failure is queued for its stage, else None."""
        with self.changed:
            for failure in self.failures:
                if failure.stage == stage:
                    failure.remaining -= 1
                    if failure.remaining <= 0:
                        self.failures.remove(failure)
                    return f"{failure.code} {failure.message}"
        return None


class _Handler:
    """aiosmtpd handler hooks; each returns the SMTP reply line."""

    def __init__(self, state: _State) -> None:
        self.state = state

    async def handle_MAIL(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        mail_options: list[str],
    ) -> str:
        # Checked here rather than with aiosmtpd's auth_required, which warns when TLS is off.
        if self.state.credentials is not None and not session.authenticated:
            return "530 5.7.0 Authentication required"
        failure = self.state.take_failure("MAIL")
        if failure is not None:
            return failure
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        failure = self.state.take_failure("RCPT")
        if failure is not None:
            return failure
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        failure = self.state.take_failure("DATA")
        if failure is not None:
            return failure
        raw = envelope.original_content or envelope.content or b""
        # What the authenticator returned for a good login (session.login_data is
        # deprecated in aiosmtpd 1.4 and warns on every read).
        auth = session.auth_data
        login = auth.login if isinstance(auth, LoginPassword) else None
        mail = CapturedMail(
            mail_from=envelope.mail_from or "",
            rcpt_tos=list(envelope.rcpt_tos),
            data=raw if isinstance(raw, bytes) else raw.encode("utf-8"),
            login=login.decode("utf-8", "replace") if isinstance(login, bytes) else login,
            mail_options=list(envelope.mail_options),
        )
        with self.state.changed:
            self.state.messages.append(mail)
            self.state.changed.notify_all()
        if self.state.on_accept is not None:
            self.state.on_accept(mail)  # before the 250: e.g. kill the sender mid-delivery
        return "250 Message accepted for delivery"


class CapturingSMTPServer:
    """An SMTP server on 127.0.0.1 that captures every accepted message in ``messages``.

    With ``auth_credentials`` ({login: password}) it offers AUTH PLAIN/LOGIN (without TLS
    unless ``tls`` is set), refuses MAIL FROM before authentication (530) and wrong
    credentials (535).
    """

    host: str = HOST

    def __init__(
        self,
        auth_credentials: dict[str, str] | None = None,
        *,
        port: int | None = None,
        hostname: str = "smtp.postroom.test",
        tls: Tls = "none",
        smtputf8: bool = True,
    ) -> None:
        if tls not in ("none", "implicit", "starttls"):
            raise ValueError(f"tls must be none, implicit or starttls, not {tls!r}")
        self.port = port or 0
        self._fixed_port = port is not None
        self._hostname = hostname
        self.tls = tls
        # False: a server that does not offer SMTPUTF8 (RFC 6531).
        self.smtputf8 = smtputf8
        self._state = _State(credentials=dict(auth_credentials) if auth_credentials else None)
        self._controller: Controller | None = None
        self._tls_dir: Path | None = None
        self.cert_path: Path | None = None  # the certificate presented, with tls set

    def _server_context(self) -> ssl.SSLContext | None:
        """A server context with a fresh self-signed certificate; None without TLS."""
        if self.tls == "none":
            return None
        if self._tls_dir is None:
            self._tls_dir = Path(tempfile.mkdtemp(prefix="postroom-smtp-tls-"))
            self.cert_path = self._tls_dir / "cert.pem"
            write_self_signed(self.cert_path, self._tls_dir / "key.pem")
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert_path, self._tls_dir / "key.pem")
        return context

    # ----------------------------------------------------------------- life cycle

    def start(self) -> CapturingSMTPServer:
        """Start serving (in a background thread); returns self."""
        if self._controller is not None:
            raise RuntimeError("the SMTP server is already running")
        attempts = 1 if self._fixed_port else 3
        context = self._server_context()
        for attempt in range(attempts):
            if not self._fixed_port:
                self.port = free_port()
            controller = Controller(
                _Handler(self._state),
                hostname=self.host,
                port=self.port,
                ready_timeout=5.0,
                server_hostname=self._hostname,
                ssl_context=context if self.tls == "implicit" else None,
                **self._smtp_options(context),
            )
            try:
                controller.start()
            except OSError:
                # The free port was taken between picking and binding: pick another.
                controller.stop(no_assert=True)
                if attempt == attempts - 1:
                    raise
                continue
            except BaseException:
                controller.stop(no_assert=True)
                raise
            self._controller = controller
            break
        return self

    def stop(self) -> None:
        """Stop serving and free the port; safe to call twice."""
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()
        tls_dir, self._tls_dir = self._tls_dir, None
        if tls_dir is not None:
            shutil.rmtree(tls_dir, ignore_errors=True)

    def __enter__(self) -> CapturingSMTPServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self._controller is not None else "stopped"
        tls = f" tls={self.tls}" if self.tls != "none" else ""
        return f"<CapturingSMTPServer {self.host}:{self.port}{tls} {state}>"

    # ----------------------------------------------------------------- what tests use

    @property
    def messages(self) -> list[CapturedMail]:
        """A snapshot of the messages captured so far, oldest first."""
        with self._state.changed:
            return list(self._state.messages)

    def clear(self) -> None:
        """Forget the captured messages."""
        with self._state.changed:
            self._state.messages.clear()

    def wait_for(self, count: int, timeout: float = 5.0) -> list[CapturedMail]:
        """Wait until at least ``count`` messages were captured and return them all.

        Raises TimeoutError, naming how many arrived, if they do not within ``timeout``.
        """
        with self._state.changed:
            arrived = self._state.changed.wait_for(
                lambda: len(self._state.messages) >= count, timeout=timeout
            )
            if not arrived:
                raise TimeoutError(
                    f"expected {count} message(s) within {timeout:g} s, "
                    f"got {len(self._state.messages)}"
                )
            return list(self._state.messages)

    def on_accept(self, hook: Callable[[CapturedMail], None] | None) -> None:
        """Call `hook` with each accepted email, in the server's thread, before the 250."""
        self._state.on_accept = hook

    def fail_next(
        self,
        code: int = 451,
        message: str = "try later",
        count: int = 1,
        *,
        at: Stage = "DATA",
    ) -> None:
        """Answer the next ``count`` MAIL, RCPT or DATA commands (``at``) with ``code``.

        A 4xx code is a temporary failure (the sender should retry), a 5xx a permanent one.
        """
        if not 400 <= code <= 599:
            raise ValueError(f"fail_next needs a 4xx or 5xx code, not {code}")
        if count < 1:
            raise ValueError("count must be at least 1")
        with self._state.changed:
            self._state.failures.append(_Failure(at, code, message, count))

    # ----------------------------------------------------------------- internals

    def _smtp_options(self, context: ssl.SSLContext | None = None) -> dict[str, Any]:
        """Keyword arguments for aiosmtpd's SMTP class."""
        options: dict[str, Any] = {"enable_SMTPUTF8": self.smtputf8, "data_size_limit": None}
        if self.tls == "starttls":
            # As a submission port: STARTTLS offered, and no mail (or AUTH) before it.
            options["tls_context"] = context
            options["require_starttls"] = True
        if self._state.credentials is not None:
            options["authenticator"] = self._authenticate
            # Plain AUTH is allowed only when the test asked for no TLS at all.
            options["auth_require_tls"] = self.tls == "starttls"
        return options

    def _authenticate(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        mechanism: str,
        auth_data: object,
    ) -> AuthResult:
        credentials = self._state.credentials or {}
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        login = auth_data.login.decode("utf-8", "replace")
        expected = credentials.get(login)
        ok = expected is not None and hmac.compare_digest(
            expected.encode("utf-8"), auth_data.password
        )
        # handled=False with success=False makes aiosmtpd answer 535.
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)
