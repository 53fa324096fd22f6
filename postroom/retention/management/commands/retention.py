from django.core.management.base import BaseCommand, CommandError

from postroom.mailboxes.models import Mailbox
from postroom.retention import sweep
from postroom.retention.models import RetentionRun
from postroom.retention.planning import all_rules, dry_run
from postroom.retention.rules import (
    RetentionError,
    do_set_mailbox_days,
    do_set_organisation_days,
    organisation_days,
)
from postroom.retention.text import days_text, human_bytes


def _days(value: str) -> int | None:
    if value.lower() in ("keep", "forever"):
        return None
    try:
        return int(value)
    except ValueError:
        raise CommandError(f"{value!r} is not a number of days or 'keep'") from None


class Command(BaseCommand):
    help = (
        "Retention of mail not bound to a CRM item or task: show the rules, say what "
        "would go (--dry-run), or remove it (--run here, --queue as a job)."
    )

    def add_arguments(self, parser):
        what = parser.add_mutually_exclusive_group()
        what.add_argument("--dry-run", action="store_true", help="what would go, per mailbox")
        what.add_argument("--run", action="store_true",
                          help="remove it now, here (an unfinished run goes on first)")  # fmt: skip
        what.add_argument("--queue", action="store_true", help="queue a run as a job")
        what.add_argument(
            "--set-default", metavar="DAYS", help="organisation default: days or keep"
        )
        what.add_argument("--set", nargs=2, metavar=("ADDRESS", "DAYS"),
                          help="a mailbox's own retention: days, keep, or default")  # fmt: skip
        parser.add_argument("--mailbox", help="--dry-run, --run, --queue: this mailbox only")

    def handle(self, *args, **options):
        try:
            if options["set_default"] is not None:
                do_set_organisation_days(_days(options["set_default"]))
            elif options["set"]:
                address, value = options["set"]
                mailbox = self._mailbox(address)
                if value.lower() == "default":
                    do_set_mailbox_days(mailbox, None, follow_default=True)
                else:
                    do_set_mailbox_days(mailbox, _days(value))
            elif options["dry_run"]:
                return self._dry_run(options["mailbox"])
            elif options["run"]:
                return self._run(options["mailbox"])
            elif options["queue"]:
                mailbox = self._mailbox(options["mailbox"]) if options["mailbox"] else None
                run = sweep.request_run(RetentionRun.Trigger.MANUAL, mailbox=mailbox)
                self.stdout.write(f"queued run {run.pk}: {run.planned_copies} copies, "
                                  f"{human_bytes(run.planned_bytes)} planned")  # fmt: skip
                return
        except RetentionError as exc:
            raise CommandError(str(exc)) from None
        self._show()

    def _mailbox(self, address: str) -> Mailbox:
        mailbox = Mailbox.objects.filter(address__iexact=address).first()
        if mailbox is None:
            raise CommandError(f"no mailbox {address!r}")
        return mailbox

    def _show(self):
        self.stdout.write(f"organisation default: {days_text(organisation_days())}")
        for rule in all_rules():
            self.stdout.write(f"{rule.mailbox.address}: {rule.label}")

    def _dry_run(self, address):
        rules = all_rules([self._mailbox(address)]) if address else all_rules()
        plan = dry_run(rules)
        self.stdout.write("dry run: nothing is removed; the mail server keeps every message")
        header = (
            f"{'mailbox':<40} {'rule':<44} {'copies':>7} {'emails':>7} {'raw':>10} "
            f"{'attachments':>12}"
        )
        self.stdout.write(header)
        for p in plan.mailboxes:
            self.stdout.write(
                f"{p.mailbox.address:<40} {p.rule.label[:44]:<44} {p.copies:>7} {p.messages:>7} "
                f"{human_bytes(p.raw_bytes):>10} {human_bytes(p.attachment_bytes):>12}"
            )
        self.stdout.write(
            f"{'total':<40} {'':<44} {plan.copies:>7} {plan.messages:>7} "
            f"{human_bytes(plan.raw_bytes):>10} {human_bytes(plan.attachment_bytes):>12}"
        )
        self.stdout.write(f"bytes freed: {plan.bytes} ({plan.raw_bytes} raw, "
                          f"{plan.attachment_bytes} attachments)")  # fmt: skip

    def _run(self, address):
        runs = list(sweep.unfinished_runs())
        if not runs:
            mailbox = self._mailbox(address) if address else None
            runs = [sweep.request_run(RetentionRun.Trigger.MANUAL, mailbox=mailbox, enqueue=False)]
        for run in runs:
            self.stdout.write(f"run {run.pk} ({run.get_trigger_display()}): started")
            done = sweep.execute(run.pk)
            self.stdout.write(
                f"run {done.pk}: {done.copies_removed} copies and {done.messages_removed} emails "
                f"removed; {done.bytes_freed} bytes freed ({done.raw_bytes_freed} raw, "
                f"{done.blob_bytes_freed} attachments), {done.packs_compacted} pack(s) "
                f"compacted, {done.disk_bytes_freed} bytes freed on disk"
            )
