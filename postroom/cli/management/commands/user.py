import os

from django.core.management.base import BaseCommand, CommandError

from postroom.accounts.actions import (
    UserError,
    do_create_user,
    do_deactivate_user,
    do_reactivate_user,
)
from postroom.accounts.models import User


class Command(BaseCommand):
    help = (
        "Manage users: postroom user add USERNAME --email E [--first-name F] [--last-name L]"
        " [--admin] [--password-env VAR]; user deactivate|reactivate USERNAME"
    )

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        add = sub.add_parser("add", help="create a user (with the default roles)")
        add.add_argument("username")
        add.add_argument("--email", required=True)
        add.add_argument("--first-name", default="")
        add.add_argument("--last-name", default="")
        add.add_argument("--admin", action="store_true", help="give full administrator rights")
        add.add_argument(
            "--password-env",
            metavar="VAR",
            help="read the password from this environment variable (else one is generated)",
        )
        for name, text in (
            ("deactivate", "stop a user from logging in; what they hold stays, marked"),
            ("reactivate", "let a deactivated user log in again"),
        ):
            sub.add_parser(name, help=text).add_argument("username")

    def handle(self, *args, action, username, **options):
        if action != "add":
            return self._set_active(username, active=action == "reactivate")
        password = None
        if password_env := options["password_env"]:
            password = os.environ.get(password_env)
            if not password:
                raise CommandError(f"the environment variable {password_env} is empty or unset")
        admin = options["admin"]
        try:
            user, generated = do_create_user(
                username,
                email=options["email"],
                password=password,
                admin=admin,
                first_name=options["first_name"],
                last_name=options["last_name"],
            )
        except UserError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"created {'administrator' if admin else 'user'} {user.username}")
        if generated:
            self.stdout.write(f"password (shown once): {generated}")

    def _set_active(self, username: str, *, active: bool) -> None:
        user = User.objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"no user {username!r}")
        try:
            (do_reactivate_user if active else do_deactivate_user)(user)
        except UserError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"{user.username} {'reactivated' if active else 'deactivated'}")
