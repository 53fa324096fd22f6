"""pytest fixtures for real mail servers.

Import them by name into a conftest or a test module:
``from postroom.testing.fixtures import dovecot, mail_user, smtp_server  # noqa: F401``.
``dovecot_tls`` and ``mail_user_tls`` are the same for a Dovecot that speaks TLS.
"""

from __future__ import annotations

import itertools
import secrets
import weakref
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from postroom.testing.dovecot import Dovecot
from postroom.testing.smtp import CapturingSMTPServer

__all__ = [
    "MAIL_DOMAIN",
    "MailUser",
    "dovecot",
    "dovecot_tls",
    "mail_user",
    "mail_user_tls",
    "other_mail_user",
    "smtp_server",
]

MAIL_DOMAIN = "example.test"

# Users live for the whole session (Dovecot is session-wide), so numbers never repeat.
_user_numbers = itertools.count(1)
# Dovecot sees at most one passwd-file change per second, so users made one per test would
# cost up to a second each: they are made in batches and handed out from a pool.
_USER_BATCH = 20
_user_pools: weakref.WeakKeyDictionary[Dovecot, deque[MailUser]] = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class MailUser:
    """A mailbox on the session Dovecot: log in with ``username``/``password``."""

    username: str
    password: str
    address: str


@pytest.fixture(scope="session")
def dovecot() -> Iterator[Dovecot]:
    """One private Dovecot for the whole session (starting one takes ~0.1 s, stopping ~1 s)."""
    server = Dovecot.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def dovecot_tls() -> Iterator[Dovecot]:
    """A second session Dovecot with a self-signed certificate (``Dovecot.start(tls=True)``):
    implicit TLS on ``imaps_port``, STARTTLS on ``imap_port``.

    Separate from ``dovecot``, whose plain listener must keep not offering STARTTLS.
    """
    server = Dovecot.start(tls=True)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def mail_user(dovecot: Dovecot) -> MailUser:
    """A fresh user ``u<n>`` with a random password, already visible to Dovecot's auth."""
    return _take_user(dovecot)


@pytest.fixture
def other_mail_user(dovecot: Dovecot) -> MailUser:
    """A second fresh user on the session Dovecot, for tests that need two mailboxes."""
    return _take_user(dovecot)


@pytest.fixture
def mail_user_tls(dovecot_tls: Dovecot) -> MailUser:
    """Like ``mail_user``, on ``dovecot_tls`` (users belong to one instance)."""
    return _take_user(dovecot_tls)


def _take_user(server: Dovecot) -> MailUser:
    pool = _user_pools.setdefault(server, deque())
    if not pool:
        batch = [_new_user() for _ in range(_USER_BATCH)]
        server.add_users({user.username: user.password for user in batch})
        pool.extend(batch)
    return pool.popleft()


def _new_user() -> MailUser:
    username = f"u{next(_user_numbers)}"
    password = secrets.token_urlsafe(12)
    return MailUser(username=username, password=password, address=f"{username}@{MAIL_DOMAIN}")


@pytest.fixture
def smtp_server() -> Iterator[CapturingSMTPServer]:
    """An SMTP sink without AUTH; build a CapturingSMTPServer yourself to require it."""
    with CapturingSMTPServer() as server:
        yield server
