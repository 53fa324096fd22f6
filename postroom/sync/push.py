"""IMAP IDLE push: one cheap asyncio connection per followed folder wakes the sync.

The IDLE connection only listens; fetching runs the tested blocking sync
(`service.sync_folder_by_id`) in a bounded thread pool, so one code path stores mail
whether it was pushed, polled or fetched by `postroom sync --once`.
"""

import asyncio
import logging
import ssl

from aioimaplib import aioimaplib

from . import imap

logger = logging.getLogger(__name__)

# Servers may drop an IDLE after 30 minutes (RFC 2177); re-issue it before that.
IDLE_RENEW = 29 * 60.0
# Untagged responses that mean the folder changed.
_CHANGES = (b"EXISTS", b"EXPUNGE", b"FETCH", b"VANISHED")


class PushClient:
    """A logged-in aioimaplib connection with the folder selected, or an error on open."""

    def __init__(self, server: imap.ServerAddress, folder: str, *, timeout: float) -> None:
        self.server, self.folder, self.timeout = server, folder, timeout
        self.lost = asyncio.Event()
        self.client: aioimaplib.IMAP4 | None = None

    async def open(self) -> bool:
        """Connect, log in and select; return whether the server can IDLE."""
        server = self.server
        where = f"{server.host}:{server.port}"
        context = None
        if server.security in ("ssl", "starttls"):
            # The same context as the sync connections: verified unless the mailbox allows
            # self-signed certificates.
            context = imap.tls_context(server.allow_self_signed, peer=where)
        if server.security == "ssl":
            self.client = aioimaplib.IMAP4_SSL(
                server.host, server.port, timeout=self.timeout, ssl_context=context
            )
            self.client.protocol.conn_lost_cb = self._on_lost
        else:
            self.client = aioimaplib.IMAP4(
                server.host, server.port, timeout=self.timeout, conn_lost_cb=self._on_lost
            )
        try:
            await self.client.wait_hello_from_server()
            if context is not None and server.security == "starttls":
                await self._starttls(context, where)
        except ssl.SSLError as exc:
            raise imap.tls_failure(where, exc) from exc
        except TimeoutError as exc:
            raise imap.Unreachable(f"{where} did not answer within {self.timeout:g} s") from exc
        except OSError as exc:
            raise imap.Unreachable(f"cannot connect to {where}: {exc.strerror or exc}") from exc
        response = await self.client.login(server.username, server.password)
        if response.result != "OK":
            words = b" ".join(response.lines).decode(errors="replace")
            raise imap.AuthFailed(f"{where} refused the login: {words}")
        response = await self.client.select(self.folder)
        if response.result != "OK":
            raise imap.SyncError(f"cannot open folder {self.folder!r}: {response.lines!r}")
        return self.client.has_capability("IDLE")

    async def _starttls(self, context: ssl.SSLContext, where: str) -> None:
        """Upgrade the plain connection to TLS in place (RFC 3501 6.2.1).

        aioimaplib has no STARTTLS: the command goes through its protocol, then
        loop.start_tls wraps the socket and the protocol gets the TLS transport in place of
        the plain one. Nothing but STARTTLS is ever sent in plain text, and a server that
        does not offer it is an error (never a plain-text IDLE).
        """
        assert self.client is not None
        protocol = self.client.protocol
        if "STARTTLS" not in protocol.capabilities:
            raise imap.TlsFailed(
                f"TLS with {where} failed: the server does not offer STARTTLS, and Postroom "
                "does not log in over plain text — use implicit TLS (ssl, usually port 993) "
                "or enable STARTTLS on the server"
            )
        command = aioimaplib.Command("STARTTLS", protocol.new_tag(), loop=protocol.loop)
        response = await asyncio.wait_for(protocol.execute(command), self.timeout)
        if response.result != "OK":
            words = b" ".join(response.lines).decode(errors="replace")
            raise imap.TlsFailed(f"TLS with {where} failed: the server refused STARTTLS: {words}")
        # Whatever followed the OK came in plain text and may have been injected by someone
        # in the middle (the CVE-2011-0411 kind of attack): a partial line is dropped here;
        # whole lines found no pending command and were ignored; capabilities are re-read.
        protocol.incomplete_line = b""
        loop = asyncio.get_running_loop()
        try:
            protocol.transport = await loop.start_tls(
                protocol.transport,
                protocol,
                context,
                server_hostname=self.server.host,
                ssl_handshake_timeout=self.timeout,
            )
        except BaseException:
            # start_tls closed the socket without telling the protocol: mark the connection
            # lost, or close() would wait for a LOGOUT answer that cannot come.
            self.lost.set()
            raise
        # Capabilities learnt before TLS must be forgotten (RFC 3501 6.2.1): ask again.
        await asyncio.wait_for(protocol.capability(), self.timeout)

    def _on_lost(self, exc: Exception | None) -> None:
        self.lost.set()

    async def wait_for_change(self, renew: float = IDLE_RENEW, on_idle=None) -> bool:
        """IDLE until the folder changes (True) or it is time to renew (False).

        `on_idle` is called once the server has accepted the IDLE: from then on every
        change is pushed. Raises imap.Unreachable when the connection drops.
        """
        assert self.client is not None
        idle = await self.client.idle_start(timeout=renew)
        if on_idle is not None:
            on_idle()
        changed = False
        try:
            while self.client.has_pending_idle():
                push = asyncio.ensure_future(self.client.wait_server_push(timeout=renew + 60))
                lost = asyncio.ensure_future(self.lost.wait())
                done, _ = await asyncio.wait({push, lost}, return_when=asyncio.FIRST_COMPLETED)
                if lost in done:
                    push.cancel()
                    raise imap.Unreachable(f"connection to {self.server.host} lost")
                lost.cancel()
                lines = push.result()
                if lines == aioimaplib.STOP_WAIT_SERVER_PUSH:
                    break
                if any(word in line for line in lines for word in _CHANGES):
                    changed = True
                    break
        finally:
            if self.client.has_pending_idle() and not self.lost.is_set():
                self.client.idle_done()
                try:
                    await asyncio.wait_for(idle, self.timeout)
                except TimeoutError:
                    self.lost.set()
        return changed

    async def close(self) -> None:
        if self.client is None:
            return
        try:
            if not self.lost.is_set():
                await asyncio.wait_for(self.client.logout(), 2)
        except Exception as exc:  # noqa: BLE001 - a broken connection fails to close any way
            logger.debug("logout from %s failed: %s", self.server.host, exc)
        finally:
            transport = getattr(self.client.protocol, "transport", None)
            if transport is not None:
                transport.close()
