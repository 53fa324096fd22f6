import os

from django.core.management.base import BaseCommand, CommandError

from postroom.accounts.actions import UserError, do_create_user


class Command(BaseCommand):
    help = "Manage users: postroom user add USERNAME --email E [--admin] [--password-env VAR]"

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        add = sub.add_parser("add", help="create a user")
        add.add_argument("username")
        add.add_argument("--email", required=True)
        add.add_argument("--admin", action="store_true", help="give full administrator rights")
        add.add_argument(
            "--password-env",
            metavar="VAR",
            help="read the password from this environment variable (else one is generated)",
        )

    def handle(self, *args, action, username, email, admin, password_env, **options):
        password = None
        if password_env:
            password = os.environ.get(password_env)
            if not password:
                raise CommandError(f"the environment variable {password_env} is empty or unset")
        try:
            user, generated = do_create_user(username, email=email, password=password, admin=admin)
        except UserError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"created {'administrator' if admin else 'user'} {user.username}")
        if generated:
            self.stdout.write(f"password (shown once): {generated}")
