"""The webhook signature: HMAC-SHA256 over "<timestamp>.<body>" with the subscription's
secret, sent as `Postroom-Signature: t=<unix seconds>,v1=<hex digest>`.

Django-free. The receiving side is the README's example (section "Webhooks"), which
the tests run as it is written there.
"""

import hashlib
import hmac
import secrets

HEADER = "Postroom-Signature"
SECRET_PREFIX = "whsec_"  # noqa: S105 - a label, not a secret


def new_secret() -> str:
    """A fresh signing secret: 32 random bytes, URL-safe text."""
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of "<timestamp>.<body>", keyed with the secret's UTF-8 bytes."""
    signed = str(timestamp).encode("ascii") + b"." + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def header_value(secret: str, timestamp: int, body: bytes) -> str:
    return f"t={timestamp},v1={signature(secret, timestamp, body)}"
