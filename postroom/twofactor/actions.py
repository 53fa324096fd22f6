"""Setting up, checking and removing a user's second factor."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

import segno
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from .models import RecoveryCode

RECOVERY_CODES = 10
_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i to misread


class TwoFactorError(Exception):
    """A second-factor change cannot be done as asked; the message says why."""


def device_of(user) -> TOTPDevice | None:
    """The user's confirmed authenticator, or None."""
    return TOTPDevice.objects.filter(user=user, confirmed=True).first()


def has_second_factor(user) -> bool:
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def is_required_for(user) -> bool:
    """The organisation requires a second factor of administrators (staff or superusers)."""
    return settings.REQUIRE_ADMIN_2FA and (user.is_staff or user.is_superuser)


def must_set_up(user) -> bool:
    """An administrator without an authenticator where the organisation requires one."""
    return is_required_for(user) and not has_second_factor(user)


def pending_device(user) -> TOTPDevice:
    """The authenticator being set up (not confirmed yet): the same one until confirmed,
    so that reloading the page does not change the QR code already scanned."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).first()
    return device or TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=False)


def qr_svg(device: TOTPDevice) -> str:
    """The otpauth:// URL of `device` as an inline SVG QR code (drawn here, no CDN)."""
    return segno.make(device.config_url, error="m").svg_inline(scale=5, border=2)


def secret_of(device: TOTPDevice) -> str:
    """The key in base32, in groups of four, for typing into an app instead of scanning."""
    import base64

    text = base64.b32encode(device.bin_key).decode().rstrip("=")
    return " ".join(text[i : i + 4] for i in range(0, len(text), 4))


def _normalise(code: str) -> str:
    return "".join(code.split()).replace("-", "").lower()


def _hash(code: str) -> str:
    return hashlib.sha256(_normalise(code).encode()).hexdigest()


def _new_code() -> str:
    chars = "".join(secrets.choice(_ALPHABET) for _ in range(12))
    return f"{chars[:4]}-{chars[4:8]}-{chars[8:]}"


@transaction.atomic
def do_make_recovery_codes(user) -> list[str]:
    """New recovery codes for `user`, replacing the old ones; returned once, kept hashed."""
    RecoveryCode.objects.filter(user=user).delete()
    codes = [_new_code() for _ in range(RECOVERY_CODES)]
    RecoveryCode.objects.bulk_create(RecoveryCode(user=user, code_hash=_hash(c)) for c in codes)
    return codes


@transaction.atomic
def do_confirm_device(device: TOTPDevice, token: str) -> list[str]:
    """Turn the authenticator on once it gave a right code; returns new recovery codes."""
    if device.confirmed:
        raise TwoFactorError("This authenticator is already set up.")
    if not device.verify_token(_normalise(token)):
        raise TwoFactorError("That code is not right; type the 6 digits the app shows now.")
    TOTPDevice.objects.filter(user=device.user_id).exclude(pk=device.pk).delete()
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    return do_make_recovery_codes(device.user)


@transaction.atomic
def do_turn_off(user) -> None:
    if is_required_for(user):
        raise TwoFactorError("The organisation requires a second factor for administrators.")
    TOTPDevice.objects.filter(user=user).delete()
    RecoveryCode.objects.filter(user=user).delete()


@dataclass(frozen=True)
class Check:
    """The outcome of a code typed at login."""

    device: TOTPDevice | None  # the authenticator the session is verified with, if right
    error: str = ""
    recovery_codes_left: int | None = None  # when a recovery code was used


def check_code(user, code: str) -> Check:
    """Verify a code from the authenticator, or one of the user's unused recovery codes.

    The authenticator refuses codes for a while after a wrong one (django-otp's
    throttling, doubling: 1 s, 2 s, 4 s ...), and a code is never accepted twice.
    """
    device = device_of(user)
    if device is None:
        return Check(None, "Two-factor authentication is not set up for this account.")
    code = _normalise(code)
    if code.isdigit():
        allowed, why = device.verify_is_allowed()
        if not allowed:
            wait = max(1, int((why["locked_until"] - timezone.now()).total_seconds() + 0.999))
            return Check(None, f"Too many wrong codes: wait {wait} seconds, then try again.")
        if device.verify_token(code):
            return Check(device)
        return Check(None, "That code is not right.")
    with transaction.atomic():
        used = (
            RecoveryCode.objects.select_for_update()
            .filter(user=user, code_hash=_hash(code), used_at__isnull=True)
            .update(used_at=timezone.now())
        )
    if not used:
        return Check(None, "That code is not right.")
    left = RecoveryCode.objects.filter(user=user, used_at__isnull=True).count()
    return Check(device, recovery_codes_left=left)


def recovery_codes_left(user) -> int:
    return RecoveryCode.objects.filter(user=user, used_at__isnull=True).count()
