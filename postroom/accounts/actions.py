"""Writes to accounts: every change of a user goes through here.

Every user is created by do_create_user, whoever creates them (the People page, the
`postroom user` command, Django's admin through PostroomUserAdmin.save_model), so every
new user who is not an administrator starts with the default roles.
"""

import logging
import re
import secrets
from collections.abc import Iterable

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone

from . import invitations
from .models import Department, Role, User
from .roles import do_give_default_roles, do_set_user_departments, forget_cached_rights

log = logging.getLogger(__name__)


class UserError(Exception):
    """A user cannot be created as asked; the message says why."""


@transaction.atomic
def do_create_user(
    username: str,
    *,
    email: str,
    password: str | None = None,
    admin: bool = False,
    first_name: str = "",
    last_name: str = "",
    invite: bool = False,
) -> tuple[User, str | None]:
    """Create a user; without a password one is generated and returned once. An invited
    user (`invite`) gets no password at all: they choose it through their link."""
    username, email = (username or "").strip(), (email or "").strip().lower()
    try:
        validate_email(email)
    except ValidationError as exc:
        raise UserError(f"{email!r} is not an email address") from exc
    if not username:
        raise UserError("a user needs a username")
    try:
        User.username_validator(username)
    except ValidationError as exc:
        raise UserError(
            f"{username!r} is not a valid username: letters, digits and @ . + - _ only"
        ) from exc
    if User.objects.filter(username__iexact=username).exists():
        raise UserError(f"user {username!r} already exists")
    if User.objects.filter(email__iexact=email).exists():
        raise UserError(f"a user with the email {email!r} already exists")
    generated = None
    if not password and not invite:
        generated = password = secrets.token_urlsafe(12)
    user = User.objects.create_user(
        username=username,
        email=email,
        password=None if invite else password,
        first_name=" ".join(first_name.split())[:150],
        last_name=" ".join(last_name.split())[:150],
        is_staff=admin,
        is_superuser=admin,
    )
    do_give_new_user_roles(user)
    return user, generated


def do_give_new_user_roles(user: User) -> None:
    """What every new user starts with: the default roles (administrators may do
    everything anyway). Django's admin calls this for the users it adds."""
    if not user.is_superuser:
        do_give_default_roles(user)


def free_username(email: str) -> str:
    """A username from the email's local part, with a number when it is taken."""
    base = re.sub(r"[^\w.@+-]", "", email.partition("@")[0].lower())[:140] or "user"
    candidate, n = base, 1
    while User.objects.filter(username__iexact=candidate).exists():
        n += 1
        candidate = f"{base}{n}"
    return candidate


@transaction.atomic
def do_add_person(
    *,
    email: str,
    first_name: str = "",
    last_name: str = "",
    username: str = "",
    departments: Iterable[Department] = (),
    roles: Iterable[Role] = (),
    invite: bool = True,
    acting_user: User | None = None,
) -> tuple[User, str | None]:
    """A colleague added by an administrator: the default roles and `roles` besides,
    members of `departments`. Returns the user and, unless invited, their generated
    password (shown once); an invited user gets their link from invitation_token()."""
    user, generated = do_create_user(
        username.strip() or free_username(email.strip()),
        email=email,
        first_name=first_name,
        last_name=last_name,
        invite=invite,
    )
    user.roles.add(*roles)
    do_set_user_departments(user, departments, acting_user=acting_user)
    forget_cached_rights(user)
    log.info(
        "%s added %s (%s)%s",
        acting_user.get_username() if acting_user else "someone",
        user.username,
        user.email,
        ", invited" if invite else "",
    )
    return user, generated


def is_invited(user: User) -> bool:
    """Invited and the link not used yet: no password, never logged in."""
    return not user.has_usable_password() and user.last_login is None


def invitation_token(user: User) -> str:
    """The token of a one-time link to choose a password (see invitations.py)."""
    return invitations.make_token(user)


@transaction.atomic
def do_renew_invitation(user: User, *, acting_user: User | None = None) -> str:
    """A new link; links given before stop working (the password hash they cover changes)."""
    if not is_invited(user):
        raise UserError(f"{user.get_username()} has already chosen a password")
    user.set_unusable_password()
    user.save(update_fields=["password"])
    return invitations.make_token(user)


@transaction.atomic
def do_accept_invitation(token: str, password: str) -> User:
    """Set the invited user's password; the link cannot be used again.
    InvitationError when the link is expired, used or forged."""
    user = invitations.read_token(token)
    user = User.objects.select_for_update().get(pk=user.pk)
    invitations.read_token(token)  # again under the row lock: two tabs, one password
    user.set_password(password)
    user.save(update_fields=["password"])
    log.info("%s accepted their invitation and chose a password", user.username)
    return user


@transaction.atomic
def do_deactivate_user(user: User, *, acting_user: User | None = None) -> None:
    """The user can no longer log in (their sessions end with it); what they hold stays
    and is shown as a deactivated person's, so nothing is silently reassigned."""
    if acting_user is not None and acting_user.pk == user.pk:
        raise UserError("you cannot deactivate yourself")
    if (
        user.is_superuser
        and not User.objects.filter(is_superuser=True, is_active=True).exclude(pk=user.pk).exists()
    ):
        raise UserError(f"{user.get_username()} is the last active administrator")
    if not user.is_active:
        return
    user.is_active = False
    user.save(update_fields=["is_active"])
    forget_cached_rights(user)
    log.info(
        "%s deactivated %s",
        acting_user.get_username() if acting_user else "someone",
        user.username,
    )


@transaction.atomic
def do_reactivate_user(user: User, *, acting_user: User | None = None) -> None:
    if user.is_active:
        return
    user.is_active = True
    user.save(update_fields=["is_active"])
    forget_cached_rights(user)
    log.info(
        "%s reactivated %s",
        acting_user.get_username() if acting_user else "someone",
        user.username,
    )


def do_ensure_first_admin() -> tuple[User, str] | None:
    """Create the first administrator when there is none; return it with its password."""
    if User.objects.filter(is_superuser=True).exists():
        return None
    user, password = do_create_user("admin", email="admin@postroom.localhost", admin=True)
    assert password is not None
    return user, password


def do_notify(users, text: str, *, url: str = "", kind: str = "other") -> int:
    """Tell each user something, by their choices for `kind` (postroom.accounts.notify);
    returns how many were told in the app."""
    from .notify import notify_many

    return len(notify_many([(user, kind, text, url) for user in users]))


def do_mark_notifications_read(user) -> None:
    user.notifications.filter(read_at__isnull=True).update(read_at=timezone.now())
