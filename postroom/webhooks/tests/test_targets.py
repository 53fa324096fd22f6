"""Which URLs a webhook may reach: public addresses only, unless a network is allowed."""

import socket

import pytest

from postroom.webhooks import targets
from postroom.webhooks.targets import TargetRefused, check


@pytest.fixture(autouse=True)
def loopback_allowed(settings):
    """Overrides the package's fixture: these tests start with nothing allowed."""
    settings.WEBHOOKS = {**settings.WEBHOOKS, "ALLOWED_NETWORKS": [], "DENIED_NETWORKS": []}


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://127.0.0.1/hook", "loopback"),
        ("http://127.8.9.10:8080/hook", "loopback"),
        ("http://[::1]/hook", "loopback"),
        ("http://localhost/hook", "loopback"),
        ("http://10.1.2.3/hook", "private"),
        ("http://172.16.0.9/hook", "private"),
        ("http://192.168.1.1/hook", "private"),
        ("http://[fd00::1]/hook", "private"),
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("http://[fe80::1]/hook", "link-local"),
        ("http://100.64.0.1/hook", "not a public address"),
        ("http://0.0.0.0/hook", "private"),
        ("http://224.0.0.1/hook", "reserved"),
        ("http://240.0.0.1/hook", "private"),
        ("http://[::ffff:127.0.0.1]/hook", "loopback"),
        ("http://2130706433/hook", "loopback"),  # 127.0.0.1 as one number
    ],
)
def test_it_refuses_addresses_that_are_not_public(url, why):
    with pytest.raises(TargetRefused, match=why):
        check(url)


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("ftp://example.com/hook", "https:// or http://"),
        ("file:///etc/passwd", "https:// or http://"),
        ("https:///hook", "names no host"),
        ("https://user:pw@example.com/hook", "user name or password"),
        ("https://example.com:99999/hook", "malformed"),
        ("not a url", "https:// or http://"),
        ("https://no-such-host.invalid/hook", "cannot be resolved"),
    ],
)
def test_it_refuses_malformed_urls_with_the_reason(url, why):
    with pytest.raises(TargetRefused, match=why):
        check(url)


def test_a_public_address_is_allowed_and_pinned_for_the_request():
    target = check("https://93.184.216.34:8443/hooks/in?x=1")
    assert (target.scheme, target.host, target.port) == ("https", "93.184.216.34", 8443)
    assert (target.path, target.address) == ("/hooks/in?x=1", "93.184.216.34")


def test_an_administrator_allows_a_network_explicitly(settings):
    settings.WEBHOOKS = {**settings.WEBHOOKS, "ALLOWED_NETWORKS": ["10.20.0.0/16"]}
    assert check("http://10.20.3.4/erp").address == "10.20.3.4"
    with pytest.raises(TargetRefused, match="private"):
        check("http://10.21.3.4/erp")


def test_a_denied_network_is_refused_even_when_public_or_allowed(settings):
    settings.WEBHOOKS = {
        **settings.WEBHOOKS,
        "ALLOWED_NETWORKS": ["10.0.0.0/8"],
        "DENIED_NETWORKS": ["93.184.216.0/24", "10.9.0.0/16"],
    }
    with pytest.raises(TargetRefused, match="denied"):
        check("https://93.184.216.34/hook")
    with pytest.raises(TargetRefused, match="denied"):
        check("https://10.9.1.1/hook")


def test_a_badly_written_network_setting_is_ignored_with_an_error(settings, caplog):
    settings.WEBHOOKS = {**settings.WEBHOOKS, "ALLOWED_NETWORKS": ["not-a-network"]}
    with pytest.raises(TargetRefused, match="loopback"):
        check("http://127.0.0.1/hook")
    assert "not-a-network" in caplog.text


def test_a_name_with_any_private_address_is_refused(monkeypatch):
    """A name resolving to a public and a private address could be made to use either."""

    def getaddrinfo(host, port, *args, **kwargs):
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port)),
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.5", port)),
        ]

    monkeypatch.setattr(targets.socket, "getaddrinfo", getaddrinfo)
    with pytest.raises(TargetRefused, match="resolves to 10.0.0.5: 10.0.0.5 is a private"):
        check("https://erp.customer.test/hook")
