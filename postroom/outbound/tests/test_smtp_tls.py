"""Sending over TLS to a real SMTP server (aiosmtpd) with a self-signed certificate:
implicit TLS and STARTTLS, the certificate checked unless the mailbox allows
self-signed ones, and never a silent downgrade to plain text.

(A server without STARTTLS on a STARTTLS setting, and a plain server on an implicit-TLS
setting, are in test_smtp.py.)"""

import pytest

from postroom.lib import smtp
from postroom.testing.mail import make_email
from postroom.testing.smtp import CapturingSMTPServer

RAW = make_email(sender="sales@acme.test", to="anna@customer.test").replace(b"\n", b"\r\n")
TO = ["anna@customer.test"]


@pytest.fixture(params=["implicit", "starttls"])
def tls_server(request):
    security = {"implicit": "ssl", "starttls": "starttls"}[request.param]
    with CapturingSMTPServer(auth_credentials={"sales": "right"}, tls=request.param) as server:
        server.security = security  # the mailbox setting that matches this server
        yield server


def _server(capturing, *, allow_self_signed=False, host=None, security=None) -> smtp.SmtpServer:
    return smtp.SmtpServer(
        host or capturing.host,
        capturing.port,
        security or capturing.security,
        "sales",
        "right",
        allow_self_signed=allow_self_signed,
    )


def test_an_untrusted_certificate_is_refused_and_nothing_is_sent(tls_server):
    with pytest.raises(smtp.TlsRefused, match="certificate of 127.0.0.1:.* is not valid"):
        smtp.send(_server(tls_server), "sales@acme.test", TO, RAW, timeout=5)
    assert tls_server.messages == []


def test_allow_self_signed_sends_encrypted_and_logs_in(tls_server):
    accepted = smtp.send(
        _server(tls_server, allow_self_signed=True), "sales@acme.test", TO, RAW, timeout=5
    )
    assert accepted.refused == {}
    [mail] = tls_server.wait_for(1)
    assert (mail.login, mail.rcpt_tos) == ("sales", TO)


def test_a_trusted_certificate_is_accepted_with_its_name_checked(tls_server, monkeypatch):
    # Trusted as a private CA would be: the check is on, and it passes.
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_server.cert_path))
    smtp.send(_server(tls_server, host="localhost"), "sales@acme.test", TO, RAW, timeout=5)
    assert len(tls_server.wait_for(1)) == 1


@pytest.mark.parametrize(("tls", "security"), [("implicit", "ssl"), ("starttls", "starttls")])
def test_a_trusted_certificate_for_another_name_is_refused(tls, security, monkeypatch):
    server = CapturingSMTPServer(tls=tls)
    # Listening on another loopback address than the two the certificate names.
    server.host = "127.0.0.2"
    with server:
        monkeypatch.setenv("SSL_CERT_FILE", str(server.cert_path))
        client = smtp.SmtpServer(server.host, server.port, security)
        with pytest.raises(smtp.TlsRefused, match="is not valid"):
            smtp.send(client, "sales@acme.test", TO, RAW, timeout=5)
        assert server.messages == []


def test_implicit_tls_against_a_starttls_port_fails_without_sending():
    with CapturingSMTPServer(tls="starttls") as server:
        plain_greeting = smtp.SmtpServer(server.host, server.port, "ssl", allow_self_signed=True)
        with pytest.raises(smtp.TlsRefused, match="did not answer in TLS"):
            smtp.send(plain_greeting, "sales@acme.test", TO, RAW, timeout=5)
        assert server.messages == []


def test_a_plain_setting_against_a_starttls_only_server_does_not_send_in_clear():
    """GIVEN a server that requires STARTTLS WHEN the mailbox is set to no TLS THEN the
    server's refusal is a permanent failure with its words; nothing went in clear."""
    with CapturingSMTPServer(tls="starttls") as server:
        plain = smtp.SmtpServer(server.host, server.port, "none")
        with pytest.raises(smtp.PermanentFailure, match="530"):
            smtp.send(plain, "sales@acme.test", TO, RAW, timeout=5)
        assert server.messages == []


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("allowed", [False, True])
def test_the_mailbox_switch_decides_for_the_outbox(allowed, alice, sales, mail_user):
    from postroom.outbound.actions import Composition, do_send_email
    from postroom.outbound.models import OutboundSettings, OutboxMessage

    from .conftest import run_jobs

    OutboundSettings.objects.create(mailbox=sales, save_to_sent=False)
    login = {mail_user.username: mail_user.password}
    with CapturingSMTPServer(auth_credentials=login, tls="starttls") as server:
        sales.smtp_port, sales.smtp_security = server.port, "starttls"
        sales.allow_self_signed = allowed
        sales.save()
        outbox = do_send_email(
            sales, Composition(to=TO, subject="Offer", body="Hi"), acting_user=alice
        )
        run_jobs()
        outbox.refresh_from_db()
        if allowed:
            assert outbox.status == OutboxMessage.Status.SENT
            assert server.wait_for(1)[0].login == mail_user.username
        else:
            assert outbox.status == OutboxMessage.Status.FAILED
            assert "is not valid" in outbox.last_error and outbox.attempts == 1
            assert server.messages == []
