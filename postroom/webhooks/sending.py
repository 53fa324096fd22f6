"""One HTTP POST of a webhook, to the address that targets.check approved.

The standard library's http.client, connected to the checked IP address (not to the
name again, which could resolve elsewhere by now), with the URL's host as the Host
header and as the TLS server name, so certificates are verified against the name.
Every wait is bounded: the connection and each read by `timeout`, the whole answer by
a deadline, and only the first RESPONSE_KEEP bytes of the answer are kept.
"""

import http.client
import socket
import ssl
import time
from dataclasses import dataclass

from .targets import Target

# Bytes of the receiver's answer kept for the delivery log; more are not even read.
RESPONSE_KEEP = 2048
USER_AGENT = "Postroom-Webhooks/1"


@dataclass(frozen=True)
class Answer:
    status: int | None  # None: no HTTP answer at all (refused, timed out, TLS failed)
    body: str
    error: str
    duration_ms: int

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


class _PinnedHTTP(http.client.HTTPConnection):
    def __init__(self, target: Target, timeout: float) -> None:
        super().__init__(target.host, target.port, timeout=timeout)
        self._address = target.address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _PinnedHTTPS(http.client.HTTPSConnection):
    def __init__(self, target: Target, timeout: float) -> None:
        super().__init__(
            target.host, target.port, timeout=timeout, context=ssl.create_default_context()
        )
        self._address = target.address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def post(target: Target, body: bytes, headers: dict[str, str], timeout: float) -> Answer:
    started = time.monotonic()
    deadline = started + 2 * timeout
    kind = _PinnedHTTPS if target.scheme == "https" else _PinnedHTTP
    conn = kind(target, timeout)
    try:
        conn.request(
            "POST",
            target.path,
            body=body,
            headers={
                "Content-Type": "application/json",
                "User-Agent": USER_AGENT,
                **headers,
            },
        )
        response = conn.getresponse()
        kept = b""
        while len(kept) < RESPONSE_KEEP and time.monotonic() < deadline:
            chunk = response.read1(RESPONSE_KEEP - len(kept))
            if not chunk:
                break
            kept += chunk
        text = kept.decode("utf-8", "replace")
        return Answer(response.status, text, "", _ms(started))
    except TimeoutError:
        return Answer(None, "", f"no answer within {timeout:g} s", _ms(started))
    except ssl.SSLError as exc:
        return Answer(None, "", f"TLS failed: {exc.reason or exc}", _ms(started))
    except ConnectionRefusedError:
        return Answer(None, "", "connection refused", _ms(started))
    except (OSError, http.client.HTTPException) as exc:
        return Answer(None, "", f"{type(exc).__name__}: {exc}"[:500], _ms(started))
    finally:
        conn.close()


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
