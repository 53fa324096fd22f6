"""Tokens in tracked mail: which email, which recipient, which link, signed.

    open:  "<outbox id>.<recipient index>:<signature>"
    click: "<outbox id>.<recipient index>.<link index>:<signature>"

The signature is an HMAC-SHA256 over the payload with the secret key and a salt per
kind (django.core.signing), so an open token is no click token. Indexes point into the
TrackedEmail's recipients and links: the token carries no address and no URL, and a
click can only lead to a link that was in that email. Anything that does not verify
reads as None: the endpoints answer it with a plain 404.
"""

from django.conf import settings
from django.core import signing

_SALTS = {"open": "postroom.tracking.open", "click": "postroom.tracking.click"}


_signers: dict[tuple[str, str], signing.Signer] = {}


def _signer(kind: str) -> signing.Signer:
    # One per kind (and key): every load of the endpoints checks a token.
    key = (kind, settings.SECRET_KEY)
    if key not in _signers:
        _signers[key] = signing.Signer(salt=_SALTS[kind], algorithm="sha256")
    return _signers[key]


def open_token(outbox_id: int, recipient: int) -> str:
    return _signer("open").sign(f"{outbox_id}.{recipient}")


def click_token(outbox_id: int, recipient: int, link: int) -> str:
    return _signer("click").sign(f"{outbox_id}.{recipient}.{link}")


def read(kind: str, token: str) -> tuple[int, ...] | None:
    """The numbers in a token of this kind, None when it is forged, cut or malformed."""
    if not token or len(token) > 200:
        return None
    try:
        payload = _signer(kind).unsign(token)
    except signing.BadSignature:
        return None
    parts = payload.split(".")
    if len(parts) != (2 if kind == "open" else 3) or not all(p.isdigit() for p in parts):
        return None
    return tuple(int(p) for p in parts)
