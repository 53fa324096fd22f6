"""Where a webhook may be sent: http(s) URLs whose every address is public.

Loopback, private (RFC 1918, unique-local), link-local (cloud metadata at
169.254.169.254), shared (CGNAT), multicast, unspecified and reserved ranges are
refused unless an administrator allows a network (POSTROOM_WEBHOOK_ALLOWED_NETWORKS);
networks in POSTROOM_WEBHOOK_DENIED_NETWORKS are refused even when public. The check
runs when a subscription is saved and again at each send, on the address the request
then connects to, so a name that resolves to a public address at subscribe time and
to 127.0.0.1 later (DNS rebinding) is refused then.
"""

import ipaddress
import logging
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from .conf import config

logger = logging.getLogger(__name__)

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class TargetRefused(Exception):
    """The URL may not be a webhook's target; the message says why, for the administrator."""


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str  # as written in the URL: the Host header and TLS server name
    port: int
    path: str  # path and query
    address: str  # the checked IP address the request connects to


def _networks(name: str) -> list[Network]:
    found = []
    for value in config(name):
        try:
            found.append(ipaddress.ip_network(value, strict=False))
        except ValueError:
            logger.error("POSTROOM_WEBHOOK_%s: %r is not a network; ignored", name, value)
    return found


def refusal(address: Address) -> str | None:
    """Why a connection to this address is refused, or None when it is allowed."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    if any(address in net for net in _networks("DENIED_NETWORKS")):
        return f"{address} is in a network the administrator denied"
    if any(address in net for net in _networks("ALLOWED_NETWORKS")):
        return None
    if address.is_loopback:
        return f"{address} is a loopback address"
    if address.is_link_local:
        return f"{address} is a link-local address"
    if address.is_private:
        return f"{address} is a private address"
    if address.is_multicast or address.is_unspecified or address.is_reserved:
        return f"{address} is a reserved address"
    if not address.is_global:  # shared (100.64/10), documentation, benchmarking ...
        return f"{address} is not a public address"
    return None


def parse(url: str) -> tuple[str, str, int, str]:
    """(scheme, host, port, path) of a well-formed http(s) URL; TargetRefused otherwise."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise TargetRefused(f"the URL is malformed: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise TargetRefused("the URL must start with https:// or http://")
    if not parts.hostname:
        raise TargetRefused("the URL names no host")
    if parts.username is not None or parts.password is not None:
        raise TargetRefused("the URL must not carry a user name or password")
    port = port or (443 if parts.scheme == "https" else 80)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return parts.scheme, parts.hostname, port, path


def resolve(host: str, port: int) -> list[Address]:
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return [literal]
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise TargetRefused(f"the host {host} cannot be resolved ({exc})") from None
    found: list[Address] = []
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%", 1)[0])
        if address not in found:
            found.append(address)
    if not found:
        raise TargetRefused(f"the host {host} has no address")
    return found


def check(url: str) -> Target:
    """The URL's target with an address to connect to; TargetRefused when the URL is
    malformed, does not resolve, or any of its addresses is refused (all are checked:
    a name with one public and one private address could be made to use either)."""
    scheme, host, port, path = parse(url)
    addresses = resolve(host, port)
    for address in addresses:
        if why := refusal(address):
            raise TargetRefused(f"{host} resolves to {address}: {why}")
    return Target(scheme, host, port, path, str(addresses[0]))
