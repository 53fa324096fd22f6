"""Transport security against a real Dovecot with a self-signed certificate.

Verified TLS by default, an explicit per-mailbox switch for self-signed certificates that
keeps the connection encrypted, and never a fall back to plain text.
"""

import asyncio
import imaplib
import logging
import re
import ssl

import pytest
from django.core.management import CommandError, call_command

from postroom.mail.models import MessageCopy
from postroom.mailboxes.actions import ConnectionSettings, MailboxError, do_add_mailbox
from postroom.mailboxes.models import Mailbox
from postroom.sync import imap
from postroom.sync.push import PushClient
from postroom.sync.service import server_of, sync_mailbox
from postroom.testing import aio
from postroom.testing.dovecot import Dovecot
from postroom.testing.fixtures import MailUser
from postroom.testing.mail import make_email

pytestmark = pytest.mark.django_db

SECURITIES = ["ssl", "starttls"]
UNTRUSTED = (
    "TLS with {where} failed: the server's certificate is not trusted (self-signed "
    "certificate) — fix the certificate or allow self-signed certificates for this mailbox"
)
NO_STARTTLS = "the server does not offer STARTTLS"


def port_for(server: Dovecot, security: str) -> int:
    """Implicit TLS has its own listener; STARTTLS upgrades the plain one."""
    if security == "ssl":
        assert server.imaps_port is not None
        return server.imaps_port
    return server.imap_port


def address(server: Dovecot, user: MailUser, security: str, **kwargs) -> imap.ServerAddress:
    return imap.ServerAddress(
        server.host,
        port_for(server, security),
        security,
        user.username,
        user.password,
        **kwargs,
    )


@pytest.fixture
def add_args(dovecot_tls, mail_user_tls, monkeypatch):
    """`postroom mailbox add` for the TLS Dovecot; the test appends the security options."""
    monkeypatch.setenv("MAILBOX_PASSWORD", mail_user_tls.password)
    return [
        "mailbox", "add", mail_user_tls.address, "--name", "Support",
        "--imap-host", dovecot_tls.host, "--username", mail_user_tls.username,
        "--password-env", "MAILBOX_PASSWORD",
    ]  # fmt: skip


def security_args(server: Dovecot, security: str) -> list[str]:
    return ["--imap-security", security, "--imap-port", str(port_for(server, security))]


# --------------------------------------------------------------------- the harness


def test_the_tls_dovecot_offers_starttls_and_the_plain_one_does_not(dovecot, dovecot_tls):
    with imaplib.IMAP4(dovecot_tls.host, dovecot_tls.imap_port, timeout=5) as conn:
        assert "STARTTLS" in conn.capabilities
    with imaplib.IMAP4(dovecot.host, dovecot.imap_port, timeout=5) as conn:
        assert "STARTTLS" not in conn.capabilities
    assert dovecot.imaps_port is None


# --------------------------------------------------------------------- verification on


@pytest.mark.parametrize("security", SECURITIES)
def test_a_self_signed_certificate_is_refused_and_nothing_saved(add_args, dovecot_tls, security):
    where = f"{dovecot_tls.host}:{port_for(dovecot_tls, security)}"
    with pytest.raises(CommandError) as error:
        call_command(*add_args, *security_args(dovecot_tls, security))
    assert str(error.value).endswith(UNTRUSTED.format(where=where))
    assert not Mailbox.objects.exists()


@pytest.mark.parametrize("security", SECURITIES)
def test_a_trusted_certificate_passes_verification(
    dovecot_tls, mail_user_tls, security, monkeypatch, caplog
):
    # Trusting the certificate (as a company CA would be) makes the verified path connect,
    # host name check included: the refusal above is about trust, not a broken set-up.
    monkeypatch.setenv("SSL_CERT_FILE", str(dovecot_tls.cert_path))
    with imap.connect(address(dovecot_tls, mail_user_tls, security), timeout=10) as client:
        assert client.client.sock.version().startswith("TLSv1.")
    assert "not verified" not in caplog.text


# --------------------------------------------------------------------- allow self-signed


@pytest.mark.parametrize("security", SECURITIES)
def test_allowing_self_signed_connects_encrypted_and_syncs(
    add_args, dovecot_tls, mail_user_tls, security, capsys
):
    call_command(*add_args, *security_args(dovecot_tls, security), "--allow-self-signed")
    assert "login verified" in capsys.readouterr().out
    mailbox = Mailbox.objects.get()
    assert mailbox.allow_self_signed and mailbox.imap_security == security

    dovecot_tls.deliver(make_email(subject="Over TLS"), to=mail_user_tls.address)
    summary = sync_mailbox(mailbox)
    assert (summary.fetched, summary.new) == (1, 1)
    assert MessageCopy.objects.get().folder.name == "INBOX"
    mailbox.refresh_from_db()
    assert mailbox.status == Mailbox.Status.OK

    # Still TLS, never plain text: the certificate is accepted, not the encryption dropped.
    with imap.connect(server_of(mailbox), timeout=10) as client:
        assert isinstance(client.client.sock, ssl.SSLSocket)
        assert client.client.sock.version().startswith("TLSv1.")


@pytest.mark.parametrize("security", SECURITIES)
def test_an_unverified_connection_is_logged_once(dovecot_tls, mail_user_tls, security, caplog):
    server = address(dovecot_tls, mail_user_tls, security, allow_self_signed=True)
    with caplog.at_level(logging.WARNING, logger="postroom.sync.imap"):
        imap.check_login(server, timeout=10)
    warnings = [r for r in caplog.records if "not verified" in r.getMessage()]
    assert len(warnings) == 1
    assert f"{dovecot_tls.host}:{server.port}" in warnings[0].getMessage()
    assert mail_user_tls.password not in caplog.text


def test_allowing_self_signed_needs_tls(mail_user_tls):
    conn = ConnectionSettings(
        address=mail_user_tls.address,
        name="Plain",
        imap_host="127.0.0.1",
        imap_port=143,
        imap_security="none",
        username=mail_user_tls.username,
        password=mail_user_tls.password,
        allow_self_signed=True,
    )
    with pytest.raises(MailboxError, match="needs TLS"):
        do_add_mailbox(conn)
    assert not Mailbox.objects.exists()


# --------------------------------------------------------------------- no downgrade


@pytest.mark.parametrize("allow_self_signed", [False, True])
def test_starttls_without_starttls_on_the_server_is_an_error(
    dovecot, mail_user, monkeypatch, allow_self_signed
):
    # The session `dovecot` has ssl = no: its plain listener does not offer STARTTLS.
    monkeypatch.setenv("MAILBOX_PASSWORD", mail_user.password)
    args = [
        "mailbox", "add", mail_user.address, "--name", "Sales",
        "--imap-host", dovecot.host, "--imap-port", str(dovecot.imap_port),
        "--imap-security", "starttls", "--username", mail_user.username,
        "--password-env", "MAILBOX_PASSWORD",
    ]  # fmt: skip
    if allow_self_signed:
        args.append("--allow-self-signed")
    where = f"{dovecot.host}:{dovecot.imap_port}"
    with pytest.raises(CommandError, match=re.escape(f"TLS with {where} failed: {NO_STARTTLS}")):
        call_command(*args)
    assert not Mailbox.objects.exists()
    # No login happened in plain text: Dovecot saw no authentication from this user.
    assert f"user=<{mail_user.username}>" not in dovecot.log_path.read_text()


def test_implicit_tls_against_a_plain_port_says_so(dovecot_tls, mail_user_tls):
    server = imap.ServerAddress(
        dovecot_tls.host, dovecot_tls.imap_port, "ssl", mail_user_tls.username, "x"
    )
    with pytest.raises(imap.TlsFailed, match="did not answer in TLS"):
        imap.check_login(server, timeout=10)


def test_a_host_name_mismatch_reads_clearly():
    exc = ssl.SSLCertVerificationError(1, "certificate verify failed")
    exc.verify_code = 62
    exc.verify_message = "Hostname mismatch, certificate is not valid for 'mail.acme.test'."
    message = str(imap.tls_failure("mail.acme.test:993", exc))
    assert "not for this host name (Hostname mismatch" in message
    assert "allow self-signed certificates for this mailbox" in message


# --------------------------------------------------------------------- IDLE push


async def _push_sees_a_delivery(
    server: imap.ServerAddress, dovecot_tls: Dovecot, to: str
) -> tuple[bool, bool, object]:
    client = PushClient(server, "INBOX", timeout=10)
    try:
        can_idle = await client.open()
        assert client.client is not None
        ssl_object = client.client.protocol.transport.get_extra_info("ssl_object")
        idling = asyncio.Event()
        waiting = asyncio.ensure_future(client.wait_for_change(renew=15, on_idle=idling.set))
        await asyncio.wait_for(idling.wait(), 10)  # the change must arrive as a push
        await asyncio.to_thread(dovecot_tls.deliver, make_email(subject="Pushed"), to)
        changed = await asyncio.wait_for(waiting, 10)
        return can_idle, changed, ssl_object
    finally:
        await client.close()


@pytest.mark.parametrize("security", SECURITIES)
def test_idle_push_over_tls_with_self_signed_allowed(dovecot_tls, mail_user_tls, security):
    server = address(dovecot_tls, mail_user_tls, security, allow_self_signed=True)
    can_idle, changed, ssl_object = aio.run(
        _push_sees_a_delivery(server, dovecot_tls, mail_user_tls.address)
    )
    assert can_idle and changed
    assert isinstance(ssl_object, ssl.SSLObject)  # encrypted, STARTTLS included


@pytest.mark.parametrize("security", SECURITIES)
def test_idle_push_refuses_a_self_signed_certificate(dovecot_tls, mail_user_tls, security):
    server = address(dovecot_tls, mail_user_tls, security)

    async def open_it() -> None:
        client = PushClient(server, "INBOX", timeout=10)
        try:
            await client.open()
        finally:
            await client.close()

    where = f"{dovecot_tls.host}:{server.port}"
    with pytest.raises(imap.TlsFailed) as error:
        aio.run(open_it())
    assert str(error.value) == UNTRUSTED.format(where=where)


def test_idle_push_over_starttls_needs_starttls_on_the_server(dovecot, mail_user):
    server = imap.ServerAddress(
        dovecot.host, dovecot.imap_port, "starttls", mail_user.username, mail_user.password
    )

    async def open_it() -> None:
        client = PushClient(server, "INBOX", timeout=10)
        try:
            await client.open()
        finally:
            await client.close()

    with pytest.raises(imap.TlsFailed, match=NO_STARTTLS):
        aio.run(open_it())
