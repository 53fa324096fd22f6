"""Symmetric encryption of secrets at rest (mailbox passwords, tokens).

Fernet (AES-128-CBC + HMAC-SHA256, from `cryptography`) with a key derived by HKDF
from the installation's secret key, so one configured secret protects everything
and a leaked database alone reveals no password.
"""

import base64

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = ["InvalidToken", "decrypt", "encrypt"]


def _fernet(secret: str) -> Fernet:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"postroom-secretbox", info=b"v1").derive(
        secret.encode()
    )
    return Fernet(base64.urlsafe_b64encode(key))


def encrypt(secret: str, plaintext: str) -> str:
    return _fernet(secret).encrypt(plaintext.encode()).decode("ascii")


def decrypt(secret: str, token: str) -> str:
    """Raise InvalidToken when the token was not made with this secret."""
    return _fernet(secret).decrypt(token.encode("ascii")).decode()
