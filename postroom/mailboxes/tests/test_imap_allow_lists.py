"""The administrator's lists of IMAP servers that mailboxes may be connected to from the
web (POSTROOM_IMAP_ALLOWED_HOSTS and _PORTS): mailboxes.actions.imap_server_refusal."""

import pytest

from postroom.mailboxes.actions import imap_server_refusal


@pytest.fixture
def lists(settings):
    def set_lists(hosts=(), ports=()):
        settings.POSTROOM = {
            **settings.POSTROOM,
            "IMAP_ALLOWED_HOSTS": list(hosts),
            "IMAP_ALLOWED_PORTS": list(ports),
        }

    return set_lists


def test_empty_lists_allow_any_server(lists):
    lists()
    assert imap_server_refusal("10.0.0.7", 22) == ""


@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        ("imap.acme.test", True),
        ("IMAP.Acme.Test.", True),
        ("mx1.mail.acme.test", True),
        ("a.b.mail.acme.test", True),
        ("mail.acme.test", False),  # the domain itself is not "a host under" it
        ("evilmail.acme.test", False),
        ("imap.acme.test.evil.test", False),
        ("127.0.0.1", False),
    ],
)
def test_a_host_must_be_named_or_under_a_listed_domain(lists, host, allowed):
    lists(hosts=["imap.acme.test", "*.mail.acme.test"])
    assert (imap_server_refusal(host, 993) == "") is allowed


def test_a_port_must_be_listed(lists):
    lists(ports=[993, 143])
    assert imap_server_refusal("imap.acme.test", 993) == ""
    assert "only on these ports: 993, 143" in imap_server_refusal("imap.acme.test", 22)
