"""The capturing SMTP server behaves like a real one towards smtplib."""

# Fixtures imported by name come back as test arguments of the same name.
# ruff: noqa: F811

from __future__ import annotations

import smtplib
from collections.abc import Iterator

import pytest

from postroom.testing.fixtures import dovecot, mail_user, smtp_server  # noqa: F401
from postroom.testing.smtp import CapturingSMTPServer

RAW = b"From: a@example.test\r\nTo: b@example.test\r\nSubject: Hi\r\n\r\nHello there.\r\n"


def connect(server: CapturingSMTPServer) -> smtplib.SMTP:
    return smtplib.SMTP(server.host, server.port, timeout=5)


@pytest.fixture
def auth_server() -> Iterator[CapturingSMTPServer]:
    with CapturingSMTPServer(auth_credentials={"sender": "s3cret"}) as server:
        yield server


def test_it_captures_a_message_sent_with_smtplib(smtp_server: CapturingSMTPServer) -> None:
    with connect(smtp_server) as client:
        client.sendmail("a@example.test", ["b@example.test", "c@example.test"], RAW)

    (mail,) = smtp_server.wait_for(1)
    assert mail.mail_from == "a@example.test"
    assert mail.rcpt_tos == ["b@example.test", "c@example.test"]
    assert mail.message["Subject"] == "Hi"
    assert mail.data.rstrip(b"\r\n") == RAW.rstrip(b"\r\n")
    assert mail.login is None
    assert smtp_server.messages == [mail]


def test_it_does_not_offer_auth_without_credentials(smtp_server: CapturingSMTPServer) -> None:
    with connect(smtp_server) as client:
        client.ehlo()
        assert not client.has_extn("auth")


def test_it_requires_auth_when_configured(auth_server: CapturingSMTPServer) -> None:
    with connect(auth_server) as client:
        client.ehlo()
        assert client.has_extn("auth")
        with pytest.raises(smtplib.SMTPSenderRefused) as refused:
            client.sendmail("a@example.test", ["b@example.test"], RAW)

    assert refused.value.smtp_code == 530
    assert auth_server.messages == []


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_it_accepts_the_right_credentials(auth_server: CapturingSMTPServer, mechanism: str) -> None:
    with connect(auth_server) as client:
        client.ehlo()
        client.user, client.password = "sender", "s3cret"
        code, _ = client.auth(mechanism, getattr(client, f"auth_{mechanism.lower()}"))
        assert code == 235
        client.sendmail("a@example.test", ["b@example.test"], RAW)

    (mail,) = auth_server.wait_for(1)
    assert mail.login == "sender"


def test_it_rejects_a_wrong_password(auth_server: CapturingSMTPServer) -> None:
    with connect(auth_server) as client, pytest.raises(smtplib.SMTPAuthenticationError) as error:
        client.login("sender", "not-the-password")

    assert error.value.smtp_code == 535


def test_fail_next_makes_the_client_see_451_at_data(smtp_server: CapturingSMTPServer) -> None:
    smtp_server.fail_next(code=451, message="try later", count=1)

    with connect(smtp_server) as client:
        with pytest.raises(smtplib.SMTPDataError) as error:
            client.sendmail("a@example.test", ["b@example.test"], RAW)
        client.sendmail("a@example.test", ["b@example.test"], RAW)  # the retry succeeds

    assert (error.value.smtp_code, error.value.smtp_error) == (451, b"try later")
    assert len(smtp_server.wait_for(1)) == 1


def test_fail_next_can_refuse_recipients_several_times(smtp_server: CapturingSMTPServer) -> None:
    smtp_server.fail_next(code=550, message="no such user", count=2, at="RCPT")

    with connect(smtp_server) as client:
        for _ in range(2):
            with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
                client.sendmail("a@example.test", ["b@example.test"], RAW)
            assert refused.value.recipients == {"b@example.test": (550, b"no such user")}
        client.sendmail("a@example.test", ["b@example.test"], RAW)

    assert len(smtp_server.wait_for(1)) == 1


def test_wait_for_times_out_naming_what_arrived(smtp_server: CapturingSMTPServer) -> None:
    with pytest.raises(TimeoutError, match="expected 1 message.*got 0"):
        smtp_server.wait_for(1, timeout=0.1)


def test_stop_frees_the_port() -> None:
    server = CapturingSMTPServer().start()
    port = server.port

    server.stop()

    with pytest.raises(OSError):
        smtplib.SMTP(server.host, port, timeout=2)
