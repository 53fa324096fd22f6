"""Email address helpers used for matching senders to people."""

from email.utils import getaddresses, parseaddr


def normalize_address(address: str) -> str:
    """The form used for matching: trimmed and lower-cased.

    The local part is case-sensitive by RFC 5321, but no real provider treats it so,
    and matching "Anna@x" to "anna@x" is what users expect.
    """
    return parseaddr(address.strip())[1].strip().lower()


def split_addresses(values: list[str]) -> list[tuple[str, str]]:
    """(display name, normalised address) pairs from header values; empty ones dropped."""
    pairs = []
    for name, addr in getaddresses(values):
        addr = addr.strip().lower()
        if "@" in addr:
            pairs.append((name.strip(), addr))
    return pairs
