"""Throwaway self-signed TLS certificates for test servers.

A self-signed certificate (no CA: it signs itself) is exactly what a small company's own
IMAP server often presents, so tests use one to check that Postroom refuses it unless the
mailbox explicitly allows it. Django-free, like the rest of postroom.testing.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from collections.abc import Sequence
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

__all__ = ["DEFAULT_NAMES", "make_self_signed", "write_self_signed"]

# What test clients connect to: Dovecot listens on 127.0.0.1, and "localhost" resolves to it.
DEFAULT_NAMES = ("127.0.0.1", "localhost")


def make_self_signed(
    names: Sequence[str] = DEFAULT_NAMES, *, days: int = 30
) -> tuple[bytes, bytes]:
    """Return (certificate PEM, unencrypted private key PEM) valid for ``names``.

    IP addresses go into the subjectAltName as IP entries, others as DNS names, so the
    certificate passes a hostname check once it is trusted (e.g. through SSL_CERT_FILE):
    a failure against it is then about trust, never about the name.
    """
    if not names:
        raise ValueError("a certificate needs at least one name")
    # EC P-256: generated in about a millisecond, where RSA-2048 takes tens of them.
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    alt_names: list[x509.GeneralName] = []
    for name in names:
        try:
            alt_names.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            alt_names.append(x509.DNSName(name))
    # Backdated a little so that a clock a few minutes off does not make it "not yet valid".
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)  # self-signed: it is its own issuer
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert_pem, key_pem


def write_self_signed(
    cert_path: Path, key_path: Path, names: Sequence[str] = DEFAULT_NAMES, *, days: int = 30
) -> None:
    """Write a fresh certificate and its key; the key file is readable by its owner only."""
    cert_pem, key_pem = make_self_signed(names, days=days)
    cert_path.write_bytes(cert_pem)
    # Create the key file 0600 from the start rather than chmod-ing it after the write.
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as key_file:
        key_file.write(key_pem)
