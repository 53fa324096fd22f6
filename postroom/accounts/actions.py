"""Writes to accounts: every change of a user goes through here."""

import secrets

from django.db import transaction
from django.utils import timezone

from .models import User
from .roles import do_give_default_roles


class UserError(Exception):
    """A user cannot be created as asked; the message says why."""


@transaction.atomic
def do_create_user(
    username: str, *, email: str, password: str | None = None, admin: bool = False
) -> tuple[User, str | None]:
    """Create a user; without a password one is generated and returned once."""
    if User.objects.filter(username=username).exists():
        raise UserError(f"user {username!r} already exists")
    if User.objects.filter(email__iexact=email).exists():
        raise UserError(f"a user with the email {email!r} already exists")
    generated = None
    if not password:
        generated = password = secrets.token_urlsafe(12)
    user = User.objects.create_user(
        username=username,
        email=email.strip().lower(),
        password=password,
        is_staff=admin,
        is_superuser=admin,
    )
    if not admin:  # administrators may do everything anyway
        do_give_default_roles(user)
    return user, generated


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
