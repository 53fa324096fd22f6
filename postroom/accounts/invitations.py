"""One-time invitation links: a new colleague chooses their own password.

The token is Django's signing (TimestampSigner, salted, with the SECRET_KEY) of the
user's id and a fingerprint of their password hash: it expires after
POSTROOM_INVITATION_DAYS, and once a password is set (or a new link is made, which
resets the unusable password) the fingerprint no longer matches, so each link works
once. Nothing about the invitation is stored.
"""

from datetime import timedelta

from django.conf import settings
from django.core import signing
from django.utils.crypto import constant_time_compare, salted_hmac

from .models import User

_SALT = "postroom.accounts.invitation"


class InvitationError(Exception):
    """The link cannot be used; the message says why, for the person holding it."""


def lifetime() -> timedelta:
    return timedelta(days=settings.POSTROOM.get("INVITATION_DAYS", 7))


def _fingerprint(user: User) -> str:
    state = f"{user.pk}|{user.password}|{user.last_login}|{user.is_active}"
    return salted_hmac(_SALT, state).hexdigest()[:20]


def make_token(user: User) -> str:
    return signing.TimestampSigner(salt=_SALT).sign_object({"u": user.pk, "f": _fingerprint(user)})


def read_token(token: str) -> User:
    """The invited user, or InvitationError (expired, used, or not a link of ours)."""
    signer = signing.TimestampSigner(salt=_SALT)
    try:
        claim = signer.unsign_object(token, max_age=lifetime())
    except signing.SignatureExpired as exc:
        raise InvitationError(
            "This invitation has expired. Ask an administrator for a new link."
        ) from exc
    except (signing.BadSignature, ValueError) as exc:
        raise InvitationError("This is not a valid invitation link.") from exc
    if not isinstance(claim, dict) or not isinstance(claim.get("u"), int):
        raise InvitationError("This is not a valid invitation link.")
    user = User.objects.filter(pk=claim["u"]).first()
    if user is None or not constant_time_compare(str(claim.get("f", "")), _fingerprint(user)):
        raise InvitationError(
            "This invitation was already used or replaced by a newer one. "
            "Log in, or ask an administrator for a new link."
        )
    if not user.is_active:
        raise InvitationError("This account is deactivated.")
    return user
