"""The SMTP/LMTP ingress: mail handed to Postroom directly, by an MTA or by `swaks`.

An aiosmtpd listener accepts mail for the addresses of known mailboxes and for users'
BCC tracker addresses only (anything else, a forged tracker address included, is
refused at RCPT, so it is never an open relay) and feeds it to the same path as IMAP
sync: `store_copy` into the mailbox's "(ingress)" folder, then
`pipeline.message_arrived`, in one transaction per recipient mailbox. "250" is
answered only after that transaction committed, so accepted mail is never lost; a
failure is a 4xx and the sender retries (message identity makes a retry one email).

The ORM blocks, the event loop must not: database work runs in a small thread pool
whose connections are refreshed around each call and closed when the ingress stops.
"""

from __future__ import annotations

import asyncio
import logging
import re
import socket
import ssl
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime
from email.parser import BytesHeaderParser
from email.policy import compat32
from pathlib import Path
from types import TracebackType
from typing import Any, AnyStr, BinaryIO, Literal, TypeVar

from aiosmtpd.controller import Controller
from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import MISSING, SMTP, Envelope, Session, syntax
from django.conf import settings
from django.db import close_old_connections, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import F
from django.utils import timezone

from postroom import pipeline
from postroom.lib.addresses import split_addresses
from postroom.mail.ingest import FetchedMessage, store_copy
from postroom.mailboxes import personal
from postroom.mailboxes.models import Folder, Mailbox

__all__ = [
    "DatabaseThreads",
    "INGRESS_FOLDER",
    "Ingress",
    "IngressError",
    "IngressHandler",
    "Outcome",
    "deliver",
    "find_mailbox",
    "parse_bind",
    "resolve_recipient",
    "start_ingress",
    "store_delivery",
]

logger = logging.getLogger(__name__)

# Mail that arrives here was never in an IMAP folder; it gets a folder of its own,
# never synced, whose UIDs the ingress hands out itself.
INGRESS_FOLDER = "(ingress)"
INGRESS_UIDVALIDITY = 1

TEMPFAIL = "451 4.3.0 temporary failure, try again"
DB_THREADS = 4
# Seconds `stop` lets deliveries in progress finish (and get their 250) before it
# drops the remaining connections.
STOP_GRACE = 10.0
# RFC 5321 allows 1000 octets per line, but real mail breaks it (one-line HTML from
# generators); refusing it with a permanent 500 would bounce mail we can store.
# The message size limit still bounds memory.
LINE_LENGTH_LIMIT = 1024 * 1024
# Defaults of POSTROOM_INGRESS_MAX_CONNECTIONS, _IDLE_TIMEOUT and _DATA_TIMEOUT (see
# settings.py): connections open at once; seconds of a sender's silence; seconds for
# the whole DATA phase of one message, however steadily it trickles in.
MAX_CONNECTIONS = 100
IDLE_TIMEOUT = 300.0
DATA_TIMEOUT = 600.0
# DATA past this many bytes goes to a temporary file in DATA_DIR/ingress-spool,
# written in pieces of WRITE_CHUNK.
SPOOL_THRESHOLD = 1024 * 1024
WRITE_CHUNK = 256 * 1024

T = TypeVar("T")


class IngressError(RuntimeError):
    """The ingress cannot start (a bad bind, a port in use) or cannot store a delivery."""


# --------------------------------------------------------------------- storing (sync)


def find_mailbox(address: str) -> int | None:
    """The id of the mailbox with this address (any case), None when there is none.

    A BCC tracker's mailbox is never found by its address: only through its signed
    token (`resolve_recipient`), so a regenerated address stops working at once.
    """
    return (
        Mailbox.objects.filter(address__iexact=address.strip(), tracker__isnull=True)
        .values_list("pk", flat=True)
        .first()
    )


@dataclass(frozen=True)
class Recipient:
    """Where mail for one RCPT address goes: a mailbox, or the SMTP refusal to give."""

    mailbox_id: int | None
    refusal: str = ""
    is_tracker: bool = False


def resolve_recipient(address: str) -> Recipient:
    """A known mailbox's address, or a user's valid BCC tracker address; else a 550."""
    found = personal.find_tracker(address)
    if found is not None:
        if found.mailbox_id is None:
            return Recipient(None, f"550 5.1.1 <{address}>: {found.refusal}")
        return Recipient(found.mailbox_id, is_tracker=True)
    mailbox_id = find_mailbox(address)
    if mailbox_id is None:
        return Recipient(None, f"550 5.1.1 <{address}>: no such mailbox here")
    return Recipient(mailbox_id)


def from_addresses(raw: bytes) -> list[str]:
    """The normalised addresses of the message's From header (headers only are read)."""
    headers = BytesHeaderParser(policy=compat32).parsebytes(raw)
    return [address for _, address in split_addresses(headers.get_all("From", []))]


def tracker_refusal(mailbox_id: int, senders: Iterable[str]) -> str:
    """Why a tracker cannot take this mail, or "": only mail its user sent is theirs to
    put on the CRM timelines of its recipients, under their name."""
    senders = list(senders)
    allowed = personal.tracker_senders(mailbox_id)
    if any(sender in allowed for sender in senders):
        return ""
    shown = ", ".join(senders) or "no From address"
    # The user's addresses are not listed: the reply goes to whoever sent the mail.
    return (
        "a BCC tracker takes only mail its user sent from their own address or one of "
        f"their mailboxes in Postroom, not from {shown}"
    )


def ingress_folder(mailbox_id: int, *, sent: bool = False) -> Folder:
    """The mailbox's "(ingress)" folder. A BCC tracker's has the Sent role: what reaches
    it is mail its user sent, so capture binds it by its recipients, as outgoing mail."""
    folder, _ = Folder.objects.get_or_create(
        mailbox_id=mailbox_id,
        name=INGRESS_FOLDER,
        defaults={
            "role": Folder.Role.SENT if sent else Folder.Role.INBOX,
            "is_synced": False,
            "uidvalidity": INGRESS_UIDVALIDITY,
        },
    )
    if folder.is_synced:
        # An IMAP folder really named "(ingress)": its UIDs belong to the server, and
        # handing out our own would collide with them.
        raise IngressError(f"{folder} is a synced IMAP folder; the ingress cannot use it")
    return folder


@dataclass(frozen=True)
class Stored:
    mailbox_id: int
    message_id: int
    uid: int


def store_delivery(
    mailbox_id: int, raw: bytes, *, received_at: datetime, tracker: bool = False
) -> Stored:
    """Store one delivery for one mailbox and start its path; committed on return."""
    with transaction.atomic():
        folder = ingress_folder(mailbox_id, sent=tracker)
        # The increment is the first write: it locks the folder's row (PostgreSQL) or
        # the database (SQLite, IMMEDIATE), so concurrent deliveries get distinct UIDs.
        Folder.objects.filter(pk=folder.pk).update(last_uid=F("last_uid") + 1)
        uid = Folder.objects.values_list("last_uid", flat=True).get(pk=folder.pk)
        copy = store_copy(
            folder,
            folder.uidvalidity or INGRESS_UIDVALIDITY,
            FetchedMessage(uid=uid, raw=raw, internal_date=received_at),
        )
        if copy is None:
            # The UID was fresh, so a copy must be new; never answer 250 for nothing.
            raise IngressError(f"{folder} already holds UID {uid}")
        pipeline.message_arrived(copy.message_id, mailbox_id)
    return Stored(mailbox_id=mailbox_id, message_id=copy.message_id, uid=uid)


@dataclass(frozen=True)
class Outcome:
    """What became of one recipient of a delivery."""

    address: str
    status: Literal["stored", "unknown", "refused", "failed"]
    stored: Stored | None = None
    reason: str = ""


def deliver(
    raw: bytes,
    recipients: list[str],
    *,
    mail_from: str = "",
    received_at: datetime | None = None,
    together: bool = False,
) -> list[Outcome]:
    """Store `raw` for each recipient's mailbox, one transaction each; one Outcome per
    recipient, in order. Two addresses of one mailbox store once.

    `together`: all or nothing, in one transaction, for SMTP, whose single reply after
    DATA is every recipient's outcome: unless every recipient is stored (or every one
    refused), nothing is kept and each is "failed", so the sender's retry stores each
    mailbox once, never twice.
    """
    if not together:
        return _deliver_each(raw, recipients, mail_from=mail_from, received_at=received_at)
    with transaction.atomic():
        outcomes = _deliver_each(raw, recipients, mail_from=mail_from, received_at=received_at)
        statuses = {outcome.status for outcome in outcomes}
        if statuses <= {"stored"} or statuses <= {"refused"}:
            return outcomes
        transaction.set_rollback(True)
    if "stored" in statuses:
        logger.info(
            "ingress: a message from <%s> was not stored for every recipient; nothing kept, "
            "the sender will retry all of them",
            mail_from,
        )
    return [
        replace(outcome, status="failed", stored=None) if outcome.status == "stored" else outcome
        for outcome in outcomes
    ]


def _deliver_each(
    raw: bytes, recipients: list[str], *, mail_from: str, received_at: datetime | None
) -> list[Outcome]:
    received_at = received_at or timezone.now()
    by_mailbox: dict[int, Outcome] = {}
    outcomes: list[Outcome] = []
    senders: list[str] | None = None
    for address in recipients:
        started = time.monotonic()
        try:
            recipient = resolve_recipient(address)
            mailbox_id = recipient.mailbox_id
            if recipient.is_tracker and mailbox_id not in by_mailbox:
                if senders is None:
                    senders = from_addresses(raw)
                refusal = tracker_refusal(mailbox_id, senders)
            else:
                refusal = ""
        except Exception:
            logger.exception("ingress: looking up <%s> failed", address)
            outcomes.append(Outcome(address, "failed"))
            continue
        if mailbox_id is None:
            # Deleted (or a tracker regenerated) between RCPT and DATA.
            logger.info("ingress: <%s> has no mailbox any more; not stored", address)
            outcomes.append(Outcome(address, "unknown"))
            continue
        if mailbox_id in by_mailbox:
            # Two addresses (or one twice) of the same mailbox: stored once.
            outcomes.append(replace(by_mailbox[mailbox_id], address=address))
            continue
        if refusal:
            logger.info(
                "ingress: refused a message from <%s> for tracker <%s>: %s",
                mail_from,
                address,
                refusal,
            )
            outcome = Outcome(address, "refused", reason=refusal)
            by_mailbox[mailbox_id] = outcome
            outcomes.append(outcome)
            continue
        try:
            stored = store_delivery(
                mailbox_id, raw, received_at=received_at, tracker=recipient.is_tracker
            )
        except Exception:
            logger.exception(
                "ingress: storing a message from <%s> for <%s> failed; answering 451",
                mail_from,
                address,
            )
            outcome = Outcome(address, "failed")
        else:
            logger.info(
                "ingress: accepted a message from <%s> for <%s>: %d bytes, "
                "message %s, uid %s, stored in %.0f ms",
                mail_from,
                address,
                len(raw),
                stored.message_id,
                stored.uid,
                (time.monotonic() - started) * 1000,
            )
            outcome = Outcome(address, "stored", stored)
        by_mailbox[mailbox_id] = outcome
        outcomes.append(outcome)
    return outcomes


# --------------------------------------------------------------------- the listener


class DatabaseThreads:
    """A small thread pool for ORM work, whose connections close when it shuts down.

    Its threads live as long as the ingress, so each call refreshes the thread's
    connection (close_old_connections honours CONN_MAX_AGE and drops broken ones),
    and `shutdown` closes what is left instead of leaving it to garbage collection.
    """

    def __init__(self, size: int = DB_THREADS) -> None:
        self._lock = threading.Lock()
        self._connections: list[BaseDatabaseWrapper] = []
        self._executor = ThreadPoolExecutor(
            max_workers=size, thread_name_prefix="ingress-db", initializer=self._adopt
        )

    def _adopt(self) -> None:
        # Runs once in each new thread: remember its connections, and allow `shutdown`
        # (in another thread, after this one has ended) to close them.
        with self._lock:
            for conn in connections.all():
                conn.inc_thread_sharing()
                self._connections.append(conn)

    async def run(self, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        def call() -> T:
            close_old_connections()
            try:
                return func(*args, **kwargs)
            finally:
                close_old_connections()

        return await asyncio.get_running_loop().run_in_executor(self._executor, call)

    def shutdown(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
        with self._lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()


class IngressHandler:
    """aiosmtpd hooks: RCPT admits known mailboxes only, DATA stores for each of them.

    With `lmtp=True` the reply to DATA is one line per accepted recipient (RFC 2033),
    so one failing mailbox does not make the sender retry the others. SMTP has one reply
    for all recipients, so one transaction carries only recipients whose outcome is
    bound to be the same (see `_group_of`); a later one that would differ gets
    `452 4.5.3` at RCPT and the client sends it in a transaction of its own.
    """

    def __init__(self, db: DatabaseThreads, *, lmtp: bool = False) -> None:
        self.db = db
        self.lmtp = lmtp
        self._in_flight = 0
        self._idle = threading.Condition()

    async def handle_EHLO(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        hostname: str,
        responses: list[str],
    ) -> list[str]:
        # What MTAs use (and LMTP requires, RFC 2033 4.1): commands sent in batches, and
        # enhanced status codes on every reply (_IngressServer.push adds the missing).
        # No AUTH (aiosmtpd offers it after STARTTLS, always failing): the ingress takes
        # mail for its own mailboxes from anyone, and an MTA that saw AUTH might try it.
        session.host_name = hostname
        offered = [line for line in responses[:-1] if not line.startswith("250-AUTH")]
        return [*offered, "250-PIPELINING", "250-ENHANCEDSTATUSCODES", responses[-1]]

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 2.1.0 OK"

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        try:
            recipient = await self.db.run(resolve_recipient, address)
        except Exception:
            logger.exception("ingress: looking up <%s> failed", address)
            return TEMPFAIL
        if recipient.mailbox_id is None:
            logger.info(
                "ingress: rejected <%s> from <%s> (peer %s): %s",
                address,
                envelope.mail_from,
                _peer(session),
                recipient.refusal.partition(": ")[2],
            )
            return recipient.refusal
        if not self.lmtp:
            group = _group_of(recipient)
            first = getattr(envelope, "postroom_group", None)
            if first is None:
                envelope.postroom_group = group
            elif group != first:
                logger.info(
                    "ingress: <%s> from <%s> asked to come in a transaction of its own",
                    address,
                    envelope.mail_from,
                )
                return (
                    f"452 4.5.3 <{address}>: too many recipients; send this one in a "
                    "transaction of its own"
                )
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        spool: Spool | None = getattr(envelope, "postroom_spool", None)
        recipients = list(envelope.rcpt_tos)
        mail_from = envelope.mail_from or ""
        received_at = timezone.now()

        def store() -> list[Outcome]:
            # The exact bytes as sent (dot-unstuffed), never a decoded string; read from
            # the spool in this thread, so the event loop never holds a big message.
            raw = spool.read() if spool is not None else envelope.original_content or b""
            return deliver(
                raw,
                recipients,
                mail_from=mail_from,
                received_at=received_at,
                together=not self.lmtp,
            )

        with self._idle:
            self._in_flight += 1
        try:
            outcomes = await self.db.run(store)
        except Exception:
            logger.exception("ingress: delivery from <%s> failed", envelope.mail_from)
            outcomes = [Outcome(address, "failed") for address in recipients]
        finally:
            # `stop` may cancel this session once the count is 0; it cannot before the
            # reply below is written, which happens in this same step of the loop.
            with self._idle:
                self._in_flight -= 1
                self._idle.notify_all()
        if self.lmtp:
            return "\r\n".join(_lmtp_reply(outcome) for outcome in outcomes)
        if all(outcome.status == "stored" for outcome in outcomes):
            return "250 2.0.0 OK: stored"
        if all(outcome.status == "refused" for outcome in outcomes):
            # Permanent, so the sender's bounce tells the user why.
            return _refused_reply(outcomes[0])
        # Nothing was kept (deliver(together=True)): the sender retries every recipient,
        # and each is stored once; a mailbox deleted meanwhile is refused at RCPT next
        # time, so its sender gets a bounce for it alone.
        return TEMPFAIL

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no delivery is being stored; False on timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: self._in_flight == 0, timeout)


def _group_of(recipient: Recipient) -> tuple[str, int | None]:
    """Recipients of one group have the same outcome in one SMTP transaction: ordinary
    mailboxes are stored together, all or nothing (deliver(together=True)); a BCC
    tracker refuses mail its user did not send, so each tracker is a group of its own."""
    if recipient.is_tracker:
        return ("tracker", recipient.mailbox_id)
    return ("mailboxes", None)


def _refused_reply(outcome: Outcome) -> str:
    return f"550 5.7.1 <{outcome.address}>: {outcome.reason}"


def _lmtp_reply(outcome: Outcome) -> str:
    if outcome.status == "stored":
        return f"250 2.0.0 <{outcome.address}> OK: stored"
    if outcome.status == "refused":
        return _refused_reply(outcome)
    if outcome.status == "unknown":
        return f"550 5.1.1 <{outcome.address}>: no such mailbox here"
    return f"451 4.3.0 <{outcome.address}>: temporary failure, try again"


def _peer(session: Session) -> str:
    peer = session.peer
    if isinstance(peer, tuple) and len(peer) >= 2:
        return f"{peer[0]}:{peer[1]}"
    return str(peer)


# ----------------------------------------------------------------- the SMTP sessions


class Spool:
    """A message's bytes while DATA arrives: in memory up to `threshold`, then in an
    unnamed temporary file in `directory`, so a 50 MB message costs one copy of itself
    (read once it is complete, to be stored), not a list of half a million lines."""

    def __init__(self, directory: Path, threshold: int) -> None:
        self.directory = directory
        self.threshold = threshold
        self.size = 0
        self._buffer = bytearray()
        self._file: BinaryIO | None = None

    @property
    def on_disk(self) -> bool:
        return self._file is not None

    def write(self, data: bytes) -> None:
        self._buffer += data
        self.size += len(data)
        if self._file is None:
            if len(self._buffer) < self.threshold:
                return
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            # O_TMPFILE where the file system allows: nothing is left after a crash.
            self._file = tempfile.TemporaryFile(dir=self.directory, prefix="data-")  # noqa: SIM115
        elif len(self._buffer) < WRITE_CHUNK:
            return
        self._file.write(self._buffer)
        self._buffer = bytearray()

    def read(self) -> bytes:
        if self._file is None:
            return bytes(self._buffer)
        self._file.write(self._buffer)
        self._buffer = bytearray()
        self._file.seek(0)
        return self._file.read()

    def close(self) -> None:
        self._buffer = bytearray()
        if self._file is not None:
            self._file.close()
            self._file = None


@dataclass(frozen=True)
class SessionLimits:
    """What one connection may cost: see Ingress."""

    max_connections: int = MAX_CONNECTIONS
    idle_timeout: float = IDLE_TIMEOUT
    data_timeout: float = DATA_TIMEOUT
    spool_dir: Path = Path(".")
    spool_threshold: int = SPOOL_THRESHOLD


class _Slots:
    """Connections open at once, across the SMTP and LMTP listeners (their own threads)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        self.used = 0

    def take(self) -> bool:
        with self._lock:
            if self.limit and self.used >= self.limit:
                return False
            self.used += 1
            return True

    def give_back(self) -> None:
        with self._lock:
            self.used -= 1


# RFC 3463 codes for aiosmtpd's own replies, which have none, by reply code.
_ENHANCED_CODES = {
    "211": "2.0.0", "214": "2.0.0", "220": "2.0.0", "221": "2.0.0", "250": "2.0.0",
    "251": "2.1.5", "252": "2.1.5", "421": "4.3.0", "450": "4.2.0", "451": "4.3.0",
    "452": "4.3.1", "454": "4.7.0", "500": "5.5.2", "501": "5.5.4", "502": "5.5.1",
    "503": "5.5.1", "504": "5.5.4", "530": "5.7.0", "550": "5.0.0", "552": "5.3.4",
    "553": "5.1.3", "554": "5.7.0", "555": "5.5.4",
}  # fmt: skip
_HAS_ENHANCED_CODE = re.compile(r"\d{3}[ -][245]\.\d{1,3}\.\d{1,3}(?: |$)")


def with_enhanced_code(reply: str) -> str:
    """`reply` with an RFC 3463 code after its reply code on every line that lacks one
    (ENHANCEDSTATUSCODES: every 2xx, 4xx and 5xx reply but the greeting and EHLO's)."""
    lines = reply.split("\r\n")
    for index, line in enumerate(lines):
        code = _ENHANCED_CODES.get(line[:3])
        if code is None or _HAS_ENHANCED_CODE.match(line):
            continue
        rest = line[4:]
        lines[index] = f"{line[:3]}{line[3:4] or ' '}{code}" + (f" {rest}" if rest else "")
    return "\r\n".join(lines)


class _IngressServer(SMTP):
    """aiosmtpd's session, hardened for MTAs and strangers alike (SMTP and LMTP):

    - at most `max_connections` at once; beyond it `421 4.7.0` and the door closes;
    - DATA is read into a `Spool` (memory, then a temporary file in the data directory)
      within `data_timeout` for the whole of it, however steadily a slow sender
      trickles, and `idle_timeout` between any two reads; either ends with a 421;
    - enhanced status codes on every reply after the greeting.
    """

    line_length_limit = LINE_LENGTH_LIMIT

    def __init__(self, handler: Any, *, limits: SessionLimits, slots: _Slots, **kwargs: Any):
        super().__init__(handler, timeout=limits.idle_timeout, **kwargs)
        self.limits = limits
        self._slots = slots
        self._enhance = False

    async def _handle_client(self) -> None:
        if not self._slots.take():
            logger.warning(
                "ingress: refused a connection from %s: %d connections already open",
                _peer(self.session),
                self._slots.limit,
            )
            await super().push(f"421 4.7.0 {self.hostname} too many connections, try again later")
            self.transport.close()
            return
        try:
            self._enhance = False  # not on the greeting
            await super()._handle_client()
        finally:
            self._slots.give_back()

    async def push(self, status: AnyStr) -> None:
        if isinstance(status, str) and status.startswith("220 ") and not self._enhance:
            self._enhance = True  # the greeting goes as it is; every reply after it not
            await super().push(status)
            return
        if isinstance(status, str) and self._enhance:
            status = with_enhanced_code(status)
        await super().push(status)

    async def _plain(self, command: Callable[[str], Awaitable[None]], arg: str) -> None:
        # The replies to HELO, EHLO and LHLO carry no enhanced codes (RFC 2034).
        self._enhance = False
        try:
            await command(arg)
        finally:
            self._enhance = True

    def _timeout_cb(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self._writer.write(f"421 4.4.2 {self.hostname} idle for too long, closing\r\n".encode())
        super()._timeout_cb()

    def _data_deadline_passed(self) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        logger.warning(
            "ingress: DATA from %s took more than %g s; closing the connection",
            _peer(self.session),
            self.limits.data_timeout,
        )
        self._writer.write(
            f"421 4.4.2 {self.hostname} the message took more than "
            f"{self.limits.data_timeout:g} s to arrive, closing\r\n".encode()
        )
        self.transport.close()  # connection_lost cancels the session, spool closed

    @syntax("DATA")
    async def smtp_DATA(self, arg: str) -> None:
        if await self.check_helo_needed():
            return
        if await self.check_auth_needed("DATA"):
            return
        assert self.envelope is not None
        if not self.envelope.rcpt_tos:
            await self.push("503 5.5.1 Error: need RCPT command")
            return
        if arg:
            await self.push("501 5.5.4 Syntax: DATA")
            return
        spool = Spool(self.limits.spool_dir, self.limits.spool_threshold)
        deadline = self.loop.call_later(self.limits.data_timeout, self._data_deadline_passed)
        try:
            await self.push("354 End data with <CR><LF>.<CR><LF>")
            problem = await self._read_data(spool)
            deadline.cancel()
            if problem:
                spool.close()
                self._set_post_data_state()
                await self.push(problem)
                return
            self.envelope.postroom_spool = spool
            # Storing may take a while (a 50 MB message, a busy database): it is not
            # the sender's silence, so no idle timeout meanwhile.
            self._timeout_handle.cancel()
            try:
                status = await self._call_handler_hook("DATA")
            finally:
                self._reset_timeout()
        finally:
            deadline.cancel()
            spool.close()
        self._set_post_data_state()
        await self.push("250 2.0.0 OK" if status is MISSING else status)

    async def _read_data(self, spool: Spool) -> str:
        """Read DATA up to its lone dot into `spool`; "" or the reply that refuses it.

        As aiosmtpd reads it (RFC 5321 4.5.2: dot-unstuffed; the size limit and the
        line length limit are answered after the end of the data), but written out as
        it comes instead of kept as a list of lines.
        """
        reader = self._reader
        limit = self.data_size_limit
        restart_idle_after = min(1.0, self.limits.idle_timeout / 2)
        too_long = too_much = inside_long_line = False
        size = 0
        last_reset = self.loop.time()
        while True:
            if self.transport is None:
                raise ConnectionResetError("the connection closed during DATA")
            # The idle timer restarts at most once a second, not for every line.
            now = self.loop.time()
            if now - last_reset >= restart_idle_after:
                self._reset_timeout()
                last_reset = now
            try:
                line = await reader.readuntil(b"\r\n")
            except asyncio.LimitOverrunError as error:
                # A line over the limit: drained and forgotten, refused at the end.
                too_long = inside_long_line = True
                size += len(await reader.read(error.consumed))
                continue
            size += len(line)
            if inside_long_line:  # the end of that line
                inside_long_line = False
                continue
            if line == b".\r\n":
                break
            if limit and size > limit and not too_much:
                too_much = True
                spool.close()  # nothing more is kept
            if not (too_long or too_much):
                spool.write(line[1:] if line[:1] == b"." else line)
        if too_long:
            return "500 5.5.0 Line too long (see RFC 5321 4.5.3.1.6)"
        if too_much:
            return "552 5.3.4 Error: Too much mail data"
        return ""


class _IngressSMTP(_IngressServer):
    async def smtp_HELO(self, arg: str) -> None:
        await self._plain(super().smtp_HELO, arg)

    async def smtp_EHLO(self, arg: str) -> None:
        await self._plain(super().smtp_EHLO, arg)


class _IngressLMTP(_IngressServer, LMTP):
    async def smtp_LHLO(self, arg: str) -> None:
        await self._plain(super().smtp_LHLO, arg)


class _Controller(Controller):
    """aiosmtpd's threaded controller, serving SMTP or LMTP."""

    def __init__(self, handler: IngressHandler, *, server_class: type[SMTP], **kwargs: Any):
        super().__init__(handler, **kwargs)
        self.server_class = server_class
        self._sock: socket.socket | None = None

    def factory(self) -> SMTP:
        return self.server_class(self.handler, **self.SMTP_kwargs)

    def bind(self) -> None:
        """Bind the listening socket now, in the caller's thread.

        aiosmtpd binds in its loop thread and reports a port in use only after its
        ready timeout (5 s); binding here fails at once, and port 0 gets a real port.
        """
        family, kind, proto, _, address = socket.getaddrinfo(
            self.hostname, self.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        sock = socket.socket(family, kind, proto)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as asyncio does
            sock.bind(address)
        except BaseException:
            sock.close()
            raise
        self._sock = sock
        self.port = sock.getsockname()[1]

    def _create_server(self):
        if self._sock is None:
            return super()._create_server()
        return self.loop.create_server(self._factory_invoker, sock=self._sock, ssl=self.ssl_context)

    def close_socket(self) -> None:
        """After a failed start: nothing else will close the bound socket."""
        if self._sock is not None:
            self._sock.close()

    def stop_listening(self) -> None:
        """Refuse new connections; sessions already open carry on."""
        server = self.server
        if server is not None and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(server.close)


def parse_bind(value: str) -> tuple[str, int]:
    """(host, port) from "HOST:PORT" or "[IPv6]:PORT"; port 0 picks a free one."""
    host, sep, port = value.strip().rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) < 65536:
        raise IngressError(f"{value!r} is not HOST:PORT")
    return host, int(port)


def server_tls_context(cert: str | Path, key: str | Path) -> ssl.SSLContext:
    """The context STARTTLS offers: the configured certificate chain and its key, TLS
    1.2 or newer; the client's certificate is not asked for."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise IngressError(f"cannot load the TLS certificate {cert} with key {key}: {exc}") from exc
    return context


class Ingress:
    """The running listeners (SMTP and/or LMTP) and the threads that store their mail.

    Use `start_ingress()`, or `with Ingress(...) as ingress:`; `stop()` lets deliveries
    in progress finish before it closes the connections.

    `hostname` is the name in the greeting and the EHLO reply; `tls_cert` and `tls_key`
    (PEM files) offer STARTTLS; `max_connections` (0: no cap), `idle_timeout` and
    `data_timeout` bound what one connection costs; DATA past `spool_threshold` bytes
    is written to a temporary file in `spool_dir` (DATA_DIR/ingress-spool by default).
    """

    def __init__(
        self,
        *,
        smtp_bind: str = "",
        lmtp_bind: str = "",
        max_message_size: int,
        hostname: str | None = None,
        tls_cert: str | Path = "",
        tls_key: str | Path = "",
        max_connections: int = MAX_CONNECTIONS,
        idle_timeout: float = IDLE_TIMEOUT,
        data_timeout: float = DATA_TIMEOUT,
        spool_dir: Path | None = None,
        spool_threshold: int = SPOOL_THRESHOLD,
    ) -> None:
        if not smtp_bind and not lmtp_bind:
            raise IngressError("neither an SMTP nor an LMTP bind address is configured")
        self.binds = {
            name: parse_bind(bind)
            for name, bind in (("smtp", smtp_bind), ("lmtp", lmtp_bind))
            if bind
        }
        self.max_message_size = max_message_size
        # Not aiosmtpd's default, socket.getfqdn(): that may wait on DNS at every start.
        self.hostname = hostname or socket.gethostname()
        if bool(tls_cert) != bool(tls_key):
            raise IngressError("STARTTLS needs both a certificate and its key")
        self.tls_context = server_tls_context(tls_cert, tls_key) if tls_cert else None
        if idle_timeout <= 0 or data_timeout <= 0:
            raise IngressError("the ingress's timeouts must be positive")
        self.limits = SessionLimits(
            max_connections=max_connections,
            idle_timeout=idle_timeout,
            data_timeout=data_timeout,
            spool_dir=spool_dir or Path(settings.DATA_DIR) / "ingress-spool",
            spool_threshold=spool_threshold,
        )
        self._slots = _Slots(max_connections)
        self._db: DatabaseThreads | None = None
        self._servers: list[tuple[_Controller, IngressHandler]] = []

    @property
    def open_connections(self) -> int:
        return self._slots.used

    def start(self) -> Ingress:
        if self._db is not None:
            raise IngressError("the ingress is already running")
        _quiet_aiosmtpd_log()
        self._db = DatabaseThreads()
        try:
            for name, (host, port) in list(self.binds.items()):
                lmtp = name == "lmtp"
                handler = IngressHandler(self._db, lmtp=lmtp)
                controller = _Controller(
                    handler,
                    server_class=_IngressLMTP if lmtp else _IngressSMTP,
                    hostname=host,
                    port=port,
                    server_hostname=self.hostname,
                    ident="Postroom LMTP" if lmtp else "Postroom ESMTP",
                    # aiosmtpd answers 552 above it (and at MAIL FROM when SIZE= says
                    # so); 0 means no limit.
                    data_size_limit=self.max_message_size or None,
                    enable_SMTPUTF8=True,
                    decode_data=False,
                    tls_context=self.tls_context,
                    limits=self.limits,
                    slots=self._slots,
                )
                try:
                    controller.bind()
                    controller.start()
                except Exception as exc:
                    controller.stop(no_assert=True)
                    controller.close_socket()
                    if not controller.loop.is_closed():
                        controller.loop.close()
                    raise IngressError(
                        f"cannot listen for {name.upper()} on {host}:{port}: {exc}"
                    ) from exc
                self._servers.append((controller, handler))
                self.binds[name] = (host, controller.port)
                logger.info("ingress: %s listening on %s:%s", name.upper(), host, controller.port)
        except BaseException:
            self.stop(grace=0)
            raise
        return self

    def stop(self, grace: float = STOP_GRACE) -> None:
        """Stop listening, let deliveries in progress commit and answer, then stop; safe twice."""
        servers, self._servers = self._servers, []
        for controller, _ in servers:
            controller.stop_listening()
        deadline = time.monotonic() + grace
        for _, handler in servers:
            if not handler.wait_idle(max(0.0, deadline - time.monotonic())):
                logger.warning("ingress: stopping with deliveries still in progress")
        for controller, _ in servers:
            controller.stop()
        db, self._db = self._db, None
        if db is not None:
            db.shutdown()

    def __enter__(self) -> Ingress:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def start_ingress(
    *,
    smtp_bind: str | None = None,
    lmtp_bind: str | None = None,
    max_message_size: int | None = None,
) -> Ingress:
    """Start the listeners of settings.POSTROOM (INGRESS_BIND, INGRESS_LMTP_BIND,
    MAX_MESSAGE_SIZE, INGRESS_HOSTNAME, INGRESS_TLS_CERT/KEY and the INGRESS_ limits);
    an argument overrides its setting, "" turns a listener off."""
    config = settings.POSTROOM
    return Ingress(
        smtp_bind=config["INGRESS_BIND"] if smtp_bind is None else smtp_bind,
        lmtp_bind=config["INGRESS_LMTP_BIND"] if lmtp_bind is None else lmtp_bind,
        max_message_size=(
            config["MAX_MESSAGE_SIZE"] if max_message_size is None else max_message_size
        ),
        hostname=config["INGRESS_HOSTNAME"] or None,
        tls_cert=config["INGRESS_TLS_CERT"],
        tls_key=config["INGRESS_TLS_KEY"],
        max_connections=config["INGRESS_MAX_CONNECTIONS"],
        idle_timeout=config["INGRESS_IDLE_TIMEOUT"],
        data_timeout=config["INGRESS_DATA_TIMEOUT"],
    ).start()


def _quiet_aiosmtpd_log() -> None:
    # aiosmtpd logs every command at INFO and every DATA line (the body) at DEBUG; the
    # ingress logs each delivery itself, and a body must never reach the logs. An
    # explicit LOGGING entry for "mail.log" is respected.
    aiosmtpd_log = logging.getLogger("mail.log")
    if aiosmtpd_log.level == logging.NOTSET:
        aiosmtpd_log.setLevel(logging.WARNING)
