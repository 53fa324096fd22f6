"""Every IMAP connection Postroom opens starts here.

imap_tools gives connection, TLS and login; the raw fetch talks to its imaplib
client directly, because imap_tools parses every message into objects and we store
the exact bytes first and parse later, in a job.
"""

import functools
import imaplib
import logging
import re
import ssl
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from imap_tools import MailBox, MailBoxStartTls, MailBoxUnencrypted
from imap_tools.errors import MailboxLoginError
from imap_tools.imap_utf7 import utf7_encode

from postroom.lib.tls import client_context
from postroom.mail.ingest import FetchedMessage

logger = logging.getLogger(__name__)


class SyncError(Exception):
    """Sync could not talk to the server; the job or the worker retries later."""

    status = "error"


class AuthFailed(SyncError):
    status = "auth_failed"


class Unreachable(SyncError):
    status = "unreachable"


class TlsFailed(SyncError):
    status = "unreachable"


@dataclass(frozen=True)
class ServerAddress:
    host: str
    port: int
    security: str  # ssl | starttls | none
    username: str
    password: str
    # Accept an unverifiable certificate (still TLS): the mailbox's explicit choice.
    allow_self_signed: bool = False

    def __repr__(self) -> str:  # keep the password out of tracebacks and logs
        unverified = ", self-signed allowed" if self.allow_self_signed else ""
        return (
            f"ServerAddress({self.username}@{self.host}:{self.port}, {self.security}{unverified})"
        )


@dataclass(frozen=True)
class FolderStatus:
    uidvalidity: int
    uidnext: int
    messages: int
    highest_modseq: int | None = None


@dataclass(frozen=True)
class RemoteFolder:
    name: str
    role: str  # a Folder.Role value


# RFC 6154 SPECIAL-USE attributes, and the names servers without them commonly use.
_ROLE_FLAGS = {
    "\\Sent": "sent",
    "\\Junk": "spam",
    "\\Trash": "trash",
    "\\Archive": "archive",
    "\\Drafts": "drafts",
}
_ROLE_NAMES = {
    "sent": "sent", "sent items": "sent", "sent messages": "sent", "отправленные": "sent",
    "junk": "spam", "spam": "spam", "junk e-mail": "spam", "спам": "spam",
    "trash": "trash", "deleted items": "trash", "deleted messages": "trash", "корзина": "trash",
    "archive": "archive", "drafts": "drafts", "черновики": "drafts",
}  # fmt: skip


# Kept under this name: sync and push call imap.tls_context.
tls_context = client_context


# OpenSSL's X509_V_ERR_HOSTNAME_MISMATCH and X509_V_ERR_IP_ADDRESS_MISMATCH.
_NAME_MISMATCH = {62, 64}


def tls_failure(where: str, exc: ssl.SSLError) -> TlsFailed:
    """A TlsFailed that says what to do, above all about an untrusted certificate."""
    fix = "fix the certificate or allow self-signed certificates for this mailbox"
    if isinstance(exc, ssl.SSLCertVerificationError):
        reason = exc.verify_message or exc.reason or str(exc)
        if exc.verify_code in _NAME_MISMATCH:
            return TlsFailed(
                f"TLS with {where} failed: the server's certificate is not for this host name "
                f"({reason}) — connect by a name the certificate holds, {fix}"
            )
        return TlsFailed(
            f"TLS with {where} failed: the server's certificate is not trusted ({reason}) — {fix}"
        )
    if exc.reason == "WRONG_VERSION_NUMBER":
        return TlsFailed(
            f"TLS with {where} failed: the server did not answer in TLS (a plain-text or "
            "STARTTLS port? implicit TLS is usually port 993)"
        )
    return TlsFailed(f"TLS with {where} failed: {exc}")


class _StartTlsMailBox(MailBoxStartTls):
    """MailBoxStartTls that fails clearly, and closes the plain socket, when the upgrade fails.

    Never falls back to plain text: a server that does not offer STARTTLS is an error.
    """

    def _get_mailbox_client(self) -> imaplib.IMAP4:
        where = f"{self._host}:{self._port}"
        if self._port == 993:
            raise TlsFailed(f"{where} is an implicit TLS port: use ssl security, not starttls")
        client = imaplib.IMAP4(self._host, self._port, self._timeout)
        try:
            if "STARTTLS" not in client.capabilities:
                raise TlsFailed(
                    f"TLS with {where} failed: the server does not offer STARTTLS, and "
                    "Postroom does not log in over plain text — use implicit TLS (ssl, "
                    "usually port 993) or enable STARTTLS on the server"
                )
            try:
                client.starttls(self._ssl_context)
            except imaplib.IMAP4.error as exc:  # a NO or BAD to STARTTLS
                raise TlsFailed(
                    f"TLS with {where} failed: the server refused STARTTLS: {exc}"
                ) from exc
        except BaseException:
            with suppress(OSError):
                client.shutdown()
            raise
        return client


def _client(server: ServerAddress, timeout: float):
    # Verification and the host name check are on unless the mailbox allows self-signed
    # certificates; either way there is no fallback to plain text when TLS fails.
    if server.security == "ssl":
        context = tls_context(server.allow_self_signed, peer=f"{server.host}:{server.port}")
        return MailBox(server.host, server.port, timeout=timeout, ssl_context=context)
    if server.security == "starttls":
        context = tls_context(server.allow_self_signed, peer=f"{server.host}:{server.port}")
        return _StartTlsMailBox(server.host, server.port, timeout=timeout, ssl_context=context)
    return MailBoxUnencrypted(server.host, server.port, timeout=timeout)


@contextmanager
def connect(server: ServerAddress, *, timeout: float = 20.0) -> Iterator:
    """A logged-in imap_tools mailbox; errors come out as SyncError subclasses."""
    where = f"{server.host}:{server.port}"
    try:
        mailbox = _client(server, timeout)
    except TlsFailed:
        raise  # already says what failed (a missing or refused STARTTLS)
    except ssl.SSLError as exc:
        raise tls_failure(where, exc) from exc
    except TimeoutError as exc:
        raise Unreachable(f"{where} did not answer within {timeout:g} s") from exc
    except OSError as exc:
        raise Unreachable(f"cannot connect to {where}: {exc.strerror or exc}") from exc
    except Exception as exc:  # noqa: BLE001 - a garbled greeting or STARTTLS refusal
        raise SyncError(f"{where} did not speak IMAP as expected: {exc}") from exc
    try:
        try:
            mailbox.login(server.username, server.password, initial_folder=None)
        except MailboxLoginError as exc:
            raise AuthFailed(f"{where} refused the login: {_server_words(exc)}") from exc
        except TimeoutError as exc:
            raise Unreachable(f"{where} did not answer within {timeout:g} s") from exc
        yield mailbox
    finally:
        with suppress(OSError):
            mailbox.client.shutdown()


def _server_words(exc: MailboxLoginError) -> str:
    """The server's own reason, e.g. '[AUTHENTICATIONFAILED] Authentication failed.'"""
    words = getattr(exc, "command_result", None)
    if words and len(words) > 1 and words[1]:
        return b" ".join(w for w in words[1] if isinstance(w, bytes)).decode(errors="replace")
    return str(exc)


def check_login(server: ServerAddress, *, timeout: float = 20.0) -> None:
    """Log in and out; raise a SyncError subclass that says what is wrong."""
    with connect(server, timeout=timeout):
        pass


_STATUS = re.compile(rb"(UIDVALIDITY|UIDNEXT|MESSAGES|HIGHESTMODSEQ) (\d+)")


def capabilities(mailbox) -> set[str]:
    """The capabilities after login (imaplib keeps the shorter pre-login list)."""
    client = mailbox.client
    if not getattr(client, "_postroom_caps", None):
        typ, data = client.capability()
        words = data[0].decode().upper().split() if typ == "OK" and data and data[0] else []
        client._postroom_caps = set(words) | set(client.capabilities)
    return client._postroom_caps


def list_folders(mailbox) -> list[RemoteFolder]:
    """Every selectable folder with its role, from SPECIAL-USE or, failing that, its name."""
    found = []
    for info in mailbox.folder.list():
        if "\\Noselect" in info.flags or "\\NonExistent" in info.flags:
            continue
        role = next((r for flag, r in _ROLE_FLAGS.items() if flag in info.flags), None)
        if info.name.upper() == "INBOX":
            role = "inbox"
        leaf = info.name.rsplit(info.delim, 1)[-1].lower() if info.delim else info.name.lower()
        found.append(RemoteFolder(info.name, role or _ROLE_NAMES.get(leaf, "other")))
    return found


def select(mailbox, folder: str, *, writable: bool = False) -> FolderStatus:
    """Select the folder (read-only unless asked) and return its status."""
    client = mailbox.client
    typ, data = client.select(_quote(folder), readonly=not writable)
    if typ != "OK":
        raise SyncError(f"cannot open folder {folder!r}: {data!r}")
    items = "UIDVALIDITY UIDNEXT MESSAGES"
    if "CONDSTORE" in capabilities(mailbox):
        items += " HIGHESTMODSEQ"
    typ, data = client.status(_quote(folder), f"({items})")
    if typ != "OK":
        raise SyncError(f"cannot read the status of {folder!r}: {data!r}")
    values = {k.decode(): int(v) for k, v in _STATUS.findall(data[0])}
    return FolderStatus(
        values["UIDVALIDITY"], values["UIDNEXT"], values["MESSAGES"], values.get("HIGHESTMODSEQ")
    )


def _quote(folder: str) -> str:
    """A quoted mailbox name in modified UTF-7 (RFC 3501), as IMAP wants it."""
    encoded = utf7_encode(folder).decode("ascii")
    return '"' + encoded.replace("\\", "\\\\").replace('"', '\\"') + '"'


def uids_since(mailbox, first_uid: int) -> list[int]:
    return search_uids(mailbox, f"UID {first_uid}:*", first_uid=first_uid)


def search_uids(mailbox, criteria: str, *, first_uid: int = 1) -> list[int]:
    typ, data = mailbox.client.uid("SEARCH", None, criteria)
    if typ != "OK":
        raise SyncError(f"UID SEARCH {criteria} failed: {data!r}")
    # "n:*" always matches the highest UID, even below n: filter it out.
    return sorted(u for u in map(int, (data[0] or b"").split()) if u >= first_uid)


def imap_date(day) -> str:
    """A date as IMAP SEARCH wants it: 1-Feb-2026 (English month, whatever the locale)."""
    months = [m.decode() for m in _MONTHS]  # defined below, with the INTERNALDATE parser
    return f"{day.day}-{months[day.month - 1]}-{day.year}"


def flags_since(mailbox, last_uid: int, modseq: int | None) -> dict[int, tuple[str, ...]]:
    """{uid: flags} of messages up to last_uid: only changed ones when modseq is given."""
    if last_uid < 1:
        return {}
    modifier = f" (CHANGEDSINCE {modseq})" if modseq is not None else ""
    typ, data = mailbox.client.uid("FETCH", f"1:{last_uid}", f"(UID FLAGS){modifier}")
    if typ != "OK":
        raise SyncError(f"UID FETCH FLAGS failed: {data!r}")
    found = {}
    for line in data:
        line = line[0] if isinstance(line, tuple) else line
        if not line:
            continue
        uid, flags = _UID.search(line), _FLAGS.search(line)
        if uid and flags:
            found[int(uid.group(1))] = tuple(f.decode() for f in flags.group(1).split())
    return found


def move(mailbox, uid: int, target: str) -> None:
    """Move one message (the folder must be selected writable); COPY + expunge without MOVE."""
    client = mailbox.client
    if "MOVE" in capabilities(mailbox):
        typ, data = client.uid("MOVE", str(uid), _quote(target))
        if typ != "OK":
            raise SyncError(f"cannot move uid {uid} to {target!r}: {data!r}")
        return
    typ, data = client.uid("COPY", str(uid), _quote(target))
    if typ != "OK":
        raise SyncError(f"cannot copy uid {uid} to {target!r}: {data!r}")
    expunge(mailbox, uid)


def expunge(mailbox, uid: int) -> None:
    """Delete one message for good (the folder must be selected writable)."""
    client = mailbox.client
    typ, data = client.uid("STORE", str(uid), "+FLAGS.SILENT", "(\\Deleted)")
    if typ == "OK":
        # UID EXPUNGE removes only this message; a plain EXPUNGE would also remove
        # whatever else another client had flagged \\Deleted.
        if "UIDPLUS" in capabilities(mailbox):
            typ, data = client.uid("EXPUNGE", str(uid))
        else:
            typ, data = client.expunge()
    if typ != "OK":
        raise SyncError(f"cannot delete uid {uid}: {data!r}")


_APPENDUID = re.compile(rb"\[APPENDUID (\d+) (\d+)\]", re.IGNORECASE)


def append(mailbox, folder: str, raw: bytes, flags: str = "") -> tuple[int, int] | None:
    """Add a message to a folder (outbound saves sent mail this way); returns its
    (UIDVALIDITY, UID) when the server says (UIDPLUS APPENDUID), else None."""
    typ, data = mailbox.client.append(_quote(folder), flags or None, None, raw)
    if typ != "OK":
        raise SyncError(f"cannot append to {folder!r}: {data!r}")
    found = _APPENDUID.search(data[0] if data and isinstance(data[0], bytes) else b"")
    return (int(found.group(1)), int(found.group(2))) if found else None


_UID = re.compile(rb"UID (\d+)")
_FLAGS = re.compile(rb"FLAGS \(([^)]*)\)")
_INTERNALDATE = re.compile(rb'INTERNALDATE "([^"]+)"')
# The answer's usual shape (the items in the order asked for, as Dovecot and most
# servers send them): one match instead of three searches, for every message of a sync.
_USUAL = re.compile(rb'UID (\d+) FLAGS \(([^)]*)\) INTERNALDATE "([^"]+)"')


_MONTHS = {
    m: i
    for i, m in enumerate(
        [b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct"]
        + [b"Nov", b"Dec"],
        start=1,
    )
}
_DATE_TIME = re.compile(rb"\s*(\d{1,2})-(\w{3})-(\d{4}) (\d\d):(\d\d):(\d\d) ([+-])(\d\d)(\d\d)")


def _internal_date(value: bytes) -> datetime | None:
    """'23-Nov-2026 11:51:12 +0000' -> an aware datetime (strptime is 10x slower)."""
    match = _DATE_TIME.match(value)
    if not match:
        return None
    day, month, year, hour, minute, second, sign, hours, minutes = match.groups()
    if month not in _MONTHS:
        return None
    try:
        return datetime(
            int(year),
            _MONTHS[month],
            int(day),
            int(hour),
            int(minute),
            int(second),
            tzinfo=_zone(sign, hours, minutes),
        )
    except ValueError:
        return None


@functools.cache
def _zone(sign: bytes, hours: bytes, minutes: bytes) -> timezone:
    # A folder's dates carry a handful of offsets: each is made once.
    offset = timedelta(hours=int(hours), minutes=int(minutes))
    return timezone(-offset if sign == b"-" else offset)


_SIZE = re.compile(rb"UID (\d+).*RFC822\.SIZE (\d+)|RFC822\.SIZE (\d+).*UID (\d+)")


def sizes(mailbox, uids: list[int]) -> dict[int, int]:
    """{uid: size in bytes} for the given UIDs: lets the caller plan batches by bytes."""
    return {uid: size for uid, (size, _date) in sizes_and_dates(mailbox, uids).items()}


def sizes_and_dates(mailbox, uids: list[int]) -> dict[int, tuple[int, datetime | None]]:
    """{uid: (size in bytes, INTERNALDATE)} for the given UIDs, in one FETCH: the size
    plans batches by bytes, the date keeps an initial fetch inside its window."""
    if not uids:
        return {}
    client = mailbox.client
    command = f"UID FETCH {_uid_set(uids)} (UID RFC822.SIZE INTERNALDATE)".encode()
    found = {}
    for head, _body, tail in _responses(client, client._new_tag(), command):
        line = head + tail
        match = _SIZE.search(line)
        if match:
            uid, size = (match.group(1), match.group(2)) if match.group(1) else match.group(4, 3)
            date = _INTERNALDATE.search(line)
            found[int(uid)] = (int(size), _internal_date(date.group(1)) if date else None)
    return found


def _uid_set(uids: list[int]) -> str:
    """A compact UID set ("1:500,507") so that a command line stays short."""
    ranges, start, prev = [], None, None
    for uid in sorted(uids):
        if prev is not None and uid == prev + 1:
            prev = uid
            continue
        if start is not None:
            ranges.append(f"{start}:{prev}" if prev != start else str(start))
        start = prev = uid
    if start is not None:
        ranges.append(f"{start}:{prev}" if prev != start else str(start))
    return ",".join(ranges)


def fetch(mailbox, uids: list[int], *, headers_only: bool = False) -> Iterator[FetchedMessage]:
    """Raw bytes, flags and INTERNALDATE of the given UIDs, without setting \\Seen.

    The command goes through imaplib's connection, but its answer is read here, line by
    line and literal by literal, straight into FetchedMessages: imaplib would first
    collect every response in its own lists and run several regular expressions per
    line, which made reading the answer cost as much as everything else the initial
    sync does with a message. Each message is yielded as soon as it has arrived.
    """
    if not uids:
        return
    part = "BODY.PEEK[HEADER]" if headers_only else "BODY.PEEK[]"
    client = mailbox.client
    command = f"UID FETCH {_uid_set(uids)} (UID FLAGS INTERNALDATE {part})"
    failure: SyncError | None = None
    for head, body, tail in _responses(client, client._new_tag(), command.encode()):
        if body is None or failure is not None or b"FETCH" not in head:
            continue  # e.g. a flag change made by another session
        try:
            fetched = _fetched(head, body, tail)
        except SyncError as exc:  # read on to the end: the connection stays usable
            failure = exc
            continue
        yield fetched
    if failure is not None:
        raise failure


_LITERAL = re.compile(rb"\{(\d+)\}\r?\n\Z")


def _responses(
    client: imaplib.IMAP4, tag: bytes, command: bytes
) -> Iterator[tuple[bytes, bytes | None, bytes]]:
    """Send one command; yield each untagged response as (first line, first literal or
    None, the lines after the literal) until the tagged answer, which must be OK.

    The caller must read to the end, or the connection is out of step.
    """
    client.tagged_commands.pop(tag, None)  # answered here, not by imaplib
    client.send(tag + b" " + command + b"\r\n")
    readline, read = client.file.readline, client.file.read
    limit = imaplib._MAXLINE
    while True:
        line = readline(limit + 1)
        if not line:
            raise Unreachable("the server closed the connection during a FETCH")
        if len(line) > limit:
            raise SyncError(f"the server sent a line longer than {limit} bytes")
        if line.startswith(tag + b" "):
            if line[len(tag) :].split(None, 1)[:1] != [b"OK"]:
                words = line.decode(errors="replace").strip()
                raise SyncError(f"{command.split(b' (')[0].decode()[:60]} failed: {words}")
            return
        if line.startswith(b"* BYE"):
            raise Unreachable(f"the server closed the connection: {line.decode(errors='replace')}")
        # An untagged response, with a literal where a line ends in {size} (for FETCH:
        # the message; further literals, which servers do not send here, are skipped).
        head, body, tail = line, None, b""
        while match := _LITERAL.search(line):
            literal = read(int(match.group(1)))
            line = readline(limit + 1)
            if body is None:
                body, tail = literal, line
            else:
                tail += line
        yield head, body, tail


def _fetched(head: bytes, raw: bytes, tail: bytes) -> FetchedMessage:
    if usual := _USUAL.search(head):
        uid, flags, date = usual.groups()
    else:
        meta = head + b" " + tail
        if (found := _UID.search(meta)) is None:
            raise SyncError(f"the server sent a message without its UID: {head[:200]!r}")
        uid = found.group(1)
        flags = found.group(1) if (found := _FLAGS.search(meta)) else b""
        date = found.group(1) if (found := _INTERNALDATE.search(meta)) else None
    return FetchedMessage(
        uid=int(uid),
        raw=raw,
        flags=tuple(f.decode() for f in flags.split()),
        internal_date=_internal_date(date) if date else None,
    )
