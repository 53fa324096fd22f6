from django.core.management.base import BaseCommand, CommandError

from postroom import jobs, pipeline
from postroom.mail.ingest import reprocess
from postroom.mail.models import Message


class Command(BaseCommand):
    help = "Work on stored mail: reprocess quarantined messages after a parser fix."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        again = sub.add_parser(
            "reprocess", help="parse quarantined messages again; those that parse go on"
        )
        again.add_argument("--all", action="store_true", help="every quarantined message")
        again.add_argument("ids", nargs="*", type=int, metavar="ID", help="message ids")
        again.add_argument(
            "--no-jobs",
            action="store_true",
            help="leave threading, search and CRM capture to the running job runner",
        )

    def handle(self, *args, action, **options):
        if action == "reprocess":
            self.reprocess(options["ids"], every=options["all"], no_jobs=options["no_jobs"])

    def reprocess(self, ids: list[int], *, every: bool, no_jobs: bool) -> None:
        if every == bool(ids):
            raise CommandError("name the messages to reprocess by ID, or give --all")
        quarantined = Message.objects.filter(status=Message.Status.QUARANTINED).order_by("pk")
        if not every:
            quarantined = quarantined.filter(pk__in=ids)
            missing = set(ids) - set(quarantined.values_list("pk", flat=True))
            if missing:
                raise CommandError(
                    f"not quarantined or not found: {', '.join(map(str, sorted(missing)))}"
                )
        parsed = still = 0
        for message in quarantined.iterator():
            message = reprocess(message)
            if message.status == Message.Status.PARSED:
                parsed += 1
                # On its way like a new message: searchable, then into the CRM.
                for mailbox_id in message.copies.values_list("mailbox_id", flat=True).distinct():
                    pipeline.messages_arrived([message.pk], mailbox_id)
                self.stdout.write(f"{message.pk}: parsed ({message})")
            else:
                still += 1
                self.stdout.write(f"{message.pk}: still quarantined: {message.error}")
        if parsed and not no_jobs:
            jobs.drain_embedded_queue()
        self.stdout.write(f"{parsed} parsed, {still} still quarantined")
