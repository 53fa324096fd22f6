"""Talking SMTP, against a real SMTP server (aiosmtpd) on loopback."""

import pytest

from postroom.lib import smtp
from postroom.testing.dovecot import free_port
from postroom.testing.mail import make_email
from postroom.testing.smtp import CapturingSMTPServer

from .conftest import SilentAfterData

RAW = make_email(sender="sales@acme.test", to="anna@customer.test").replace(b"\n", b"\r\n")


def _server(capturing, security="none", username="", password="") -> smtp.SmtpServer:
    return smtp.SmtpServer(capturing.host, capturing.port, security, username, password)


def test_it_sends(smtp_server):
    accepted = smtp.send(_server(smtp_server), "sales@acme.test", ["anna@customer.test"], RAW)
    assert accepted.refused == {}
    [mail] = smtp_server.wait_for(1)
    assert (mail.mail_from, mail.rcpt_tos, mail.login) == (
        "sales@acme.test",
        ["anna@customer.test"],
        None,
    )


def test_it_logs_in_when_the_server_offers_auth():
    with CapturingSMTPServer(auth_credentials={"sales": "right"}) as server:
        smtp.send(
            _server(server, username="sales", password="right"),
            "sales@acme.test",
            ["anna@customer.test"],
            RAW,
        )
        assert server.wait_for(1)[0].login == "sales"


def test_a_refused_login_says_so():
    with CapturingSMTPServer(auth_credentials={"sales": "right"}) as server:
        with pytest.raises(smtp.AuthRefused, match="refused the login of sales: 535"):
            smtp.send(
                _server(server, username="sales", password="wrong"),
                "sales@acme.test",
                ["anna@customer.test"],
                RAW,
            )
        assert server.messages == []


@pytest.mark.parametrize("stage", ["MAIL", "RCPT", "DATA"])
def test_a_4xx_is_temporary(smtp_server, stage):
    smtp_server.fail_next(451, "4.3.0 try again later", at=stage)
    with pytest.raises(smtp.TemporaryFailure, match="451 4.3.0 try again later") as caught:
        smtp.send(_server(smtp_server), "sales@acme.test", ["anna@customer.test"], RAW)
    assert not isinstance(caught.value, smtp.MaybeDelivered)
    assert smtp_server.messages == []


@pytest.mark.parametrize("stage", ["MAIL", "RCPT", "DATA"])
def test_a_5xx_is_permanent_with_the_servers_words(smtp_server, stage):
    smtp_server.fail_next(550, "5.7.1 relaying denied", at=stage)
    with pytest.raises(smtp.PermanentFailure, match="550 5.7.1 relaying denied"):
        smtp.send(_server(smtp_server), "sales@acme.test", ["anna@customer.test"], RAW)


def test_one_refused_recipient_does_not_stop_the_others(smtp_server):
    smtp_server.fail_next(550, "5.1.1 no such user", at="RCPT")
    accepted = smtp.send(
        _server(smtp_server), "sales@acme.test", ["gone@customer.test", "anna@customer.test"], RAW
    )
    assert accepted.refused == {"gone@customer.test": "550 5.1.1 no such user"}
    assert smtp_server.wait_for(1)[0].rcpt_tos == ["anna@customer.test"]


def test_starttls_not_offered_is_never_a_silent_downgrade(smtp_server):
    with pytest.raises(smtp.TlsRefused, match="does not offer STARTTLS"):
        smtp.send(_server(smtp_server, "starttls"), "sales@acme.test", ["a@b.test"], RAW)
    assert smtp_server.messages == []


def test_a_plain_server_on_an_implicit_tls_setting_fails_without_sending(smtp_server):
    with pytest.raises(smtp.TlsRefused, match="did not answer in TLS"):
        smtp.send(_server(smtp_server, "ssl"), "sales@acme.test", ["a@b.test"], RAW, timeout=3)
    assert smtp_server.messages == []


def test_a_refused_connection_is_temporary():
    server = smtp.SmtpServer("127.0.0.1", free_port(), "none")
    with pytest.raises(smtp.TemporaryFailure, match="cannot connect"):
        smtp.send(server, "sales@acme.test", ["a@b.test"], RAW, timeout=3)


def test_the_password_stays_out_of_the_repr():
    assert "secret" not in repr(smtp.SmtpServer("h", 25, "none", "u", "secret"))


@pytest.fixture
def silent_server():
    server = SilentAfterData()
    yield server
    server.close()


def test_a_connection_lost_after_the_data_may_have_delivered(silent_server):
    server = smtp.SmtpServer("127.0.0.1", silent_server.port, "none")
    with pytest.raises(smtp.MaybeDelivered, match="connection to 127.0.0.1"):
        smtp.send(server, "sales@acme.test", ["a@b.test"], RAW, timeout=5)


# RFC 6531/6532: an internationalised email (a UTF-8 address, UTF-8 in its headers).
UTF8_RAW = (
    "From: sales@acme.test\r\nTo: Jösé <jösé@exämple.test>\r\nSubject: Re: Grüße\r\n"
    "Message-ID: <reply.1@acme.test>\r\nIn-Reply-To: <ünïcode.1@exämple.test>\r\n\r\nHallo\r\n"
).encode()


def test_a_utf8_recipient_goes_with_smtputf8_when_the_server_offers_it(smtp_server):
    smtp.send(_server(smtp_server), "sales@acme.test", ["jösé@exämple.test"], UTF8_RAW)
    [mail] = smtp_server.wait_for(1)
    assert mail.rcpt_tos == ["jösé@exämple.test"]
    assert "SMTPUTF8" in mail.mail_options
    assert b"In-Reply-To: <\xc3\xbcn\xc3\xafcode.1@ex\xc3\xa4mple.test>" in mail.data


def test_plain_ascii_mail_asks_for_no_smtputf8(smtp_server):
    smtp.send(_server(smtp_server), "sales@acme.test", ["anna@customer.test"], RAW)
    assert smtp_server.wait_for(1)[0].mail_options == []


def test_a_utf8_recipient_on_a_server_without_smtputf8_is_a_permanent_failure_that_says_why():
    with CapturingSMTPServer(smtputf8=False) as server:
        with pytest.raises(smtp.PermanentFailure, match="offers no SMTPUTF8"):
            smtp.send(_server(server), "sales@acme.test", ["jösé@exämple.test"], UTF8_RAW)
        assert server.messages == []


def test_utf8_only_in_the_headers_still_goes_to_a_server_without_smtputf8():
    with CapturingSMTPServer(smtputf8=False) as server:
        smtp.send(_server(server), "sales@acme.test", ["anna@customer.test"], UTF8_RAW)
        [mail] = server.wait_for(1)
        assert "SMTPUTF8" not in mail.mail_options
        assert "In-Reply-To: <ünïcode.1@exämple.test>".encode() in mail.data
