"""BCC tracker addresses: `track-<signed token>@<POSTROOM_INGRESS_DOMAIN>`.

A user puts their tracker address in BCC of mail they send from any client; the
ingress takes it and the CRM puts it on the timelines of the recipients' items. The
token names the user and a random key (kept by the caller, replaced when the user
regenerates the address, so an old address stops working) and is signed with
Django's signing and the SECRET_KEY, so no one can guess or forge an address.

Pure: no model is read here; who holds which key is the mailboxes app's business.
"""

from __future__ import annotations

import base64
import re
import secrets
from dataclasses import dataclass

from django.conf import settings
from django.core import signing
from django.utils.crypto import salted_hmac

PREFIX = "track-"
_SALT = "postroom.accounts.tracker"
# Mail systems may change the case of a local part, so every part of the token is
# lower-case: digits, a base32 key and a base32 signature.
_VALUE = re.compile(r"^(\d+)-([a-z2-7]{1,32})$")


class ForgedTracker(ValueError):
    """An address in the tracker's form whose signature does not check out."""


@dataclass(frozen=True)
class TrackerClaim:
    """What a correctly signed tracker address says: whose it is, with which key."""

    user_id: int
    key: str


class _AddressSigner(signing.Signer):
    """Django's Signer with a signature that survives case-folding: lower-case base32
    of the same salted HMAC-SHA256 (160 of its bits) instead of base64."""

    def signature(self, value: str, key: str | bytes | None = None) -> str:
        mac = salted_hmac(
            self.salt + "signer", value, key or self.key, algorithm=self.algorithm
        ).digest()
        return base64.b32encode(mac[:20]).decode("ascii").lower()


def _signer() -> _AddressSigner:
    # "." separates the value from its signature; ":" is not allowed in a local part.
    return _AddressSigner(sep=".", salt=_SALT)


def ingress_domain() -> str:
    return settings.POSTROOM["INGRESS_DOMAIN"].strip().lower()


def new_key() -> str:
    """A fresh random key: 8 base32 characters (40 bits) that the signature covers."""
    return base64.b32encode(secrets.token_bytes(5)).decode("ascii").lower()


def tracker_address(user_id: int, key: str, domain: str | None = None) -> str:
    token = _signer().sign(f"{user_id}-{key}")
    return f"{PREFIX}{token}@{domain or ingress_domain()}"


def read_tracker_address(address: str, domain: str | None = None) -> TrackerClaim | None:
    """The claim of a tracker address; None when `address` is not in the tracker's form
    (another local part or domain), ForgedTracker when it is but its signature is wrong."""
    local, at, host = address.strip().strip("<>").lower().rpartition("@")
    if not at or host != (domain or ingress_domain()) or not local.startswith(PREFIX):
        return None
    try:
        value = _signer().unsign(local.removeprefix(PREFIX))
    except signing.BadSignature as exc:
        raise ForgedTracker(f"{address} is not a valid tracker address") from exc
    match = _VALUE.match(value)
    if match is None:  # signed by us, so never in practice; refuse rather than guess
        raise ForgedTracker(f"{address} is not a valid tracker address")
    return TrackerClaim(user_id=int(match.group(1)), key=match.group(2))
