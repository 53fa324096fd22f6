import os

from django.core.management.base import BaseCommand, CommandError

from postroom.accounts.actions import (
    UserError,
    do_create_user,
    do_deactivate_user,
    do_reactivate_user,
)
from postroom.accounts.models import User
from postroom.retention.choices import Choice, personal_mailboxes_of, unlinked_mail
from postroom.retention.choices import do_deactivate_user as do_deactivate_with_mail
from postroom.retention.rules import RetentionError
from postroom.retention.text import human_bytes


class Command(BaseCommand):
    help = (
        "Manage users: postroom user add USERNAME --email E [--first-name F] [--last-name L]"
        " [--admin] [--password-env VAR]; user deactivate USERNAME [--mail keep|remove];"
        " user reactivate USERNAME"
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
        deactivate = sub.add_parser(
            "deactivate", help="stop a user from logging in; what they hold stays, marked"
        )
        deactivate.add_argument("username")
        deactivate.add_argument(
            "--mail",
            choices=Choice.values,
            help="the unlinked mail of their personal mailboxes (which stop syncing): "
            "keep it, or remove it from Postroom now; asked for when they have any",
        )
        sub.add_parser("reactivate", help="let a deactivated user log in again").add_argument(
            "username"
        )

    def handle(self, *args, action, username, **options):
        if action == "deactivate":
            return self._deactivate(username, options["mail"])
        if action == "reactivate":
            return self._reactivate(username)
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

    def _deactivate(self, username: str, mail: str | None) -> None:
        user = self._user(username)
        mailboxes = list(personal_mailboxes_of(user))
        try:
            if mailboxes:
                if mail is None:
                    raise CommandError(self._ask_about_mail(user, mailboxes))
                do_deactivate_with_mail(user, mail, acting_user=None)
            else:
                do_deactivate_user(user)
        except (UserError, RetentionError) as exc:
            raise CommandError(str(exc)) from exc
        kept = {"keep": "kept", "remove": "being removed"}
        said = f"; their unlinked mail is {kept[mail]}" if mailboxes else ""
        self.stdout.write(f"{user.username} deactivated{said}")

    def _reactivate(self, username: str) -> None:
        user = self._user(username)
        do_reactivate_user(user)
        self.stdout.write(f"{user.username} reactivated")

    @staticmethod
    def _user(username: str) -> User:
        user = User.objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"no user {username!r}")
        return user

    @staticmethod
    def _ask_about_mail(user: User, mailboxes) -> str:
        """What --mail decides, as the web page shows it before it happens."""
        lines = [f"{user.username} has personal mailboxes, which stop syncing:"]
        for mailbox in mailboxes:
            plan = unlinked_mail(mailbox)
            lines.append(
                f"  {mailbox.address}: {plan.copies} unlinked email(s), {human_bytes(plan.bytes)}"
            )
        lines.append("say --mail keep (kept, its retention rule applies) or --mail remove")
        return "\n".join(lines)
