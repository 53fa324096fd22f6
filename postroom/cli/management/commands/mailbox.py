import argparse
import os

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from postroom.accounts.models import Department
from postroom.mailboxes.actions import (
    ConnectionSettings,
    MailboxError,
    do_add_mailbox,
    do_change_password,
    do_choose_folders,
    do_revoke_grant,
    do_set_grant,
)
from postroom.mailboxes.models import Folder, Mailbox, MailboxGrant, Security
from postroom.outbound.actions import do_set_save_to_sent
from postroom.sync import imap
from postroom.sync.service import discover_folders, verify_connection, verify_password

SECURITY = Security.values
LEVELS = {level.label.lower(): level.value for level in MailboxGrant.Level}


class Command(BaseCommand):
    help = "Connect and list mailboxes."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        add = sub.add_parser("add", help="connect a mailbox (logs in before saving)")
        add.add_argument("address")
        add.add_argument("--name", required=True)
        add.add_argument(
            "--ingress-only",
            action="store_true",
            help="no IMAP server: mail arrives only through `postroom ingress` (SMTP/LMTP)",
        )
        add.add_argument("--imap-host")
        add.add_argument("--imap-port", type=int)
        add.add_argument("--imap-security", choices=SECURITY)
        add.add_argument(
            "--allow-self-signed",
            action="store_true",
            help="accept the IMAP server's certificate even if self-signed or untrusted "
            "(still encrypted, but not protected against a man in the middle)",
        )
        add.add_argument("--username")
        add.add_argument(
            "--password-env",
            metavar="VAR",
            help="the environment variable holding the password (never the password itself)",
        )
        add.add_argument("--smtp-host", default="")
        add.add_argument("--smtp-port", type=int)
        add.add_argument("--smtp-security", choices=SECURITY, default="")
        add.add_argument("--kind", choices=Mailbox.Kind.values, default=Mailbox.Kind.SHARED)
        add.add_argument("--owner", metavar="USERNAME")
        add.add_argument(
            "--crm-rule", default="lead", help="lead | contact-deal | smart:TYPE | none"
        )
        add.add_argument("--no-verify", action="store_true", help="save without logging in first")
        add.add_argument(
            "--poll-interval",
            type=int,
            metavar="SECONDS",
            help="seconds between polls if the server cannot push (default: "
            "POSTROOM_POLL_INTERVAL, 60)",
        )
        add.add_argument(
            "--no-save-to-sent",
            action="store_true",
            help="do not append sent mail to the Sent folder (for providers whose SMTP "
            "server files it there itself: Gmail, Microsoft 365)",
        )
        update = sub.add_parser("update", help="change a mailbox's password or sending options")
        update.add_argument("address")
        update.add_argument(
            "--password-env",
            metavar="VAR",
            help="a new IMAP password, from this environment variable; saved only after a "
            "successful login with it",
        )
        update.add_argument(
            "--save-to-sent",
            action=argparse.BooleanOptionalAction,
            default=None,
            help="append sent mail to the server's Sent folder (--no-save-to-sent: the "
            "provider's SMTP server files it itself)",
        )
        grant = sub.add_parser("grant", help="give a person or a department access")
        grant.add_argument("address")
        who = grant.add_mutually_exclusive_group(required=True)
        who.add_argument("--user", metavar="USERNAME")
        who.add_argument("--department", metavar="NAME")
        grant.add_argument("--level", choices=LEVELS, default="read")
        grant.add_argument("--revoke", action="store_true", help="take the access away")
        sub.add_parser("list", help="list connected mailboxes")
        folders = sub.add_parser("folders", help="show a mailbox's folders; pick which sync")
        folders.add_argument("address")
        folders.add_argument("--refresh", action="store_true", help="read them from the server")
        folders.add_argument("--sync", nargs="+", default=[], metavar="FOLDER")
        folders.add_argument("--stop", nargs="+", default=[], metavar="FOLDER")
        folders.add_argument(
            "--role",
            nargs="+",
            default=[],
            metavar="FOLDER=ROLE",
            help=f"correct a role the server's flags got wrong ({', '.join(Folder.Role.values)})",
        )

    def handle(self, *args, action, **options):
        if action == "list":
            return self.list()
        if action == "folders":
            return self.folders(**options)
        if action == "update":
            return self.update(**options)
        if action == "grant":
            return self.grant(**options)
        return self.add(**options)

    def update(self, *, address, save_to_sent, password_env, **options):
        mailbox = Mailbox.objects.filter(address__iexact=address).first()
        if mailbox is None:
            raise CommandError(f"no mailbox {address}")
        if save_to_sent is None and not password_env:
            raise CommandError(
                "nothing to change: give --password-env, --save-to-sent or --no-save-to-sent"
            )
        if password_env:
            password = os.environ.get(password_env)
            if not password:
                raise CommandError(f"the environment variable {password_env} is empty or unset")
            try:
                verify_password(mailbox, password)
                do_change_password(mailbox, password, acting_user=None)
            except (imap.SyncError, MailboxError) as exc:
                raise CommandError(f"{mailbox.address}: password not saved: {exc}") from exc
            self.stdout.write(f"{mailbox.address}: new password saved (the server accepted it)")
        if save_to_sent is not None:
            do_set_save_to_sent(mailbox, save_to_sent)
            where = (
                "appended to its Sent folder" if save_to_sent else "left to the provider to file"
            )
            self.stdout.write(f"{mailbox.address}: sent mail is {where}")

    def grant(self, *, address, user, department, level, revoke, **options):
        mailbox = Mailbox.objects.filter(address__iexact=address).first()
        if mailbox is None:
            raise CommandError(f"no mailbox {address}")
        if user:
            grantee = {"user": get_user_model().objects.filter(username=user).first()}
        else:
            found = Department.objects.filter(name__iexact=department).first()
            grantee = {"group": found.group if found else None}
        if None in grantee.values():
            raise CommandError(f"no {'user' if user else 'department'} {user or department!r}")
        who = user or department
        try:
            if revoke:
                existing = mailbox.grants.filter(**grantee).first()
                if existing is None:
                    raise CommandError(f"{who} has no access to {mailbox.address}")
                do_revoke_grant(existing, acting_user=None)
                self.stdout.write(f"{mailbox.address}: {who} no longer has access")
                return
            do_set_grant(mailbox, level=LEVELS[level], acting_user=None, **grantee)
        except MailboxError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"{mailbox.address}: {level} access for {who}")

    def folders(self, *, address, refresh, sync, stop, role, **options):
        mailbox = Mailbox.objects.filter(address__iexact=address).first()
        if mailbox is None:
            raise CommandError(f"no mailbox {address}")
        try:
            if refresh:
                discover_folders(mailbox)
            if malformed := [pair for pair in role if "=" not in pair]:
                raise CommandError(f"--role wants FOLDER=ROLE, not {', '.join(malformed)}")
            roles = dict(pair.rsplit("=", 1) for pair in role)
            do_choose_folders(mailbox, sync=sync, stop=stop, roles=roles)
        except (imap.SyncError, MailboxError) as exc:
            raise CommandError(str(exc)) from exc
        for folder in mailbox.folders.all():
            progress = ""
            if folder.backfill_below is not None:
                progress = f"initial fetch {folder.backfill_done} of {folder.backfill_total}"
            synced = "synced" if folder.is_synced else "-"
            self.stdout.write(f"{folder.name:32} {folder.role:8} {synced:7} {progress}")
        for warning in mailbox.warnings():
            self.stderr.write(f"warning: {warning}")

    def list(self):
        # BCC trackers are their owners' hidden mailboxes (no server, nothing to manage
        # here): left out, as the web pages leave them out for everyone but the owner.
        mailboxes = Mailbox.objects.filter(tracker__isnull=True)
        if not mailboxes:
            self.stdout.write("no mailboxes yet: add one with `postroom mailbox add`")
        for m in mailboxes:
            self.stdout.write(
                f"{m.address:32} {m.kind:8} crm={m.crm_rule_label:16} {m.status:12} "
                f"{f'{m.imap_host}:{m.imap_port}' if m.has_imap else 'ingress only'} "
                f"{m.status_message}"
            )

    @staticmethod
    def _checked_crm_rule(value: str) -> str:
        """smart:TYPE must name an existing smart type (by slug or name); stored by slug."""
        rule, _, smart_type = value.partition(":")
        if rule != "smart" or not smart_type.strip():
            return value  # do_add_mailbox explains anything else that is wrong
        from postroom.crm.actions import resolve_smart_type

        found = resolve_smart_type(smart_type)
        if found is None:
            raise CommandError(
                f"there is no smart type {smart_type.strip()!r}: create it first (CRM admin)"
            )
        return f"smart:{found.slug}"

    def add(self, *, address, password_env, owner, kind, crm_rule, no_verify, ingress_only, **o):
        mailbox = self._add(
            address, password_env, owner, kind, crm_rule, no_verify, ingress_only, o
        )
        if mailbox is not None and o.get("no_save_to_sent"):
            do_set_save_to_sent(mailbox, False)
            self.stdout.write(f"{mailbox.address}: sent mail is not appended to its Sent folder")

    def _add(self, address, password_env, owner, kind, crm_rule, no_verify, ingress_only, o):
        imap_args = ("imap_host", "imap_port", "imap_security", "username")
        if ingress_only:
            password = ""
            no_verify = True
            o.update(dict.fromkeys(imap_args, None))
        else:
            missing = [f"--{n.replace('_', '-')}" for n in (*imap_args, "password_env") if not (
                password_env if n == "password_env" else o[n])]  # fmt: skip
            if missing:
                raise CommandError(
                    f"missing {', '.join(missing)} (or --ingress-only for a mailbox fed by SMTP)"
                )
            password = os.environ.get(password_env)
            if not password:
                raise CommandError(f"the environment variable {password_env} is empty or unset")
        crm_rule = self._checked_crm_rule(crm_rule)
        owner_user = None
        if owner:
            owner_user = get_user_model().objects.filter(username=owner).first()
            if owner_user is None:
                raise CommandError(f"no user {owner!r}")
        conn = ConnectionSettings(
            address=address,
            name=o["name"],
            imap_host=o["imap_host"] or "",
            imap_port=o["imap_port"],
            imap_security=o["imap_security"] or "",
            username=o["username"] or "",
            password=password,
            smtp_host=o["smtp_host"],
            smtp_port=o["smtp_port"],
            smtp_security=o["smtp_security"],
            allow_self_signed=o["allow_self_signed"],
        )
        if not no_verify:
            try:
                verify_connection(conn)
            except imap.SyncError as exc:
                raise CommandError(f"{address} not saved: {exc}") from exc
        try:
            mailbox = do_add_mailbox(
                conn,
                kind=kind,
                owner=owner_user,
                crm_rule=crm_rule,
                poll_interval=o["poll_interval"],
            )
        except MailboxError as exc:
            raise CommandError(str(exc)) from exc
        if ingress_only:
            bind = settings.POSTROOM["INGRESS_BIND"] or "the ingress (POSTROOM_INGRESS_BIND)"
            self.stdout.write(f"added mailbox {mailbox.address}, fed by SMTP to {bind}")
            return mailbox
        if no_verify:
            self.stdout.write(f"added mailbox {mailbox.address} (not verified)")
            return mailbox
        try:
            folders = discover_folders(mailbox)
        except imap.SyncError as exc:
            self.stdout.write(f"added mailbox {mailbox.address}; reading its folders failed: {exc}")
            return mailbox
        synced = ", ".join(f.name for f in folders if f.is_synced)
        self.stdout.write(
            f"added mailbox {mailbox.address} (login verified); {len(folders)} folders, "
            f"syncing {synced}; pick others with `postroom mailbox folders`"
        )
        return mailbox
