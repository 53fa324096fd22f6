from django.core.management.base import BaseCommand, CommandError

from postroom.retention import storage
from postroom.retention.text import human_bytes


class Command(BaseCommand):
    help = "What Postroom stores (report) and whether it is whole (check)."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser("report", help="emails and bytes per mailbox, growth, what retention freed")
        check = sub.add_parser("check", help="no orphan rows or files, no missing bytes")
        check.add_argument("--no-read", action="store_true",
                           help="do not read and hash every raw message (faster)")  # fmt: skip

    def handle(self, *args, action, **options):
        if action == "report":
            self._report()
        else:
            self._check(read_bytes=not options["no_read"])

    def _report(self):
        r = storage.report()
        w = self.stdout.write
        w(f"emails: {r.messages}; raw mail: {human_bytes(r.raw_bytes)} ({r.raw_bytes} bytes, "
          f"{human_bytes(r.raw_in_packs)} in {r.pack_files} pack file(s) of "
          f"{human_bytes(r.pack_disk_bytes)} on disk); attachments: "
          f"{human_bytes(r.attachment_bytes)} ({r.attachment_bytes} bytes)")  # fmt: skip
        w(f"retention: {r.runs} run(s) removed {r.copies_removed} copies and "
          f"{r.messages_removed} emails, freed {human_bytes(r.freed_bytes)} "
          f"({human_bytes(r.freed_disk_bytes)} of pack files)")  # fmt: skip
        w("")
        w(f"{'mailbox':<40} {'emails':>8} {'raw':>10} {'attachments':>12} {'removed':>8}")
        for u in r.mailboxes:
            w(f"{u.mailbox.address:<40} {u.messages:>8} {human_bytes(u.raw_bytes):>10} "
              f"{human_bytes(u.attachment_bytes):>12} {u.freed_copies:>8}")  # fmt: skip
        w("")
        w("growth per month (emails received, raw bytes):")
        w(f"{'mailbox':<40} " + " ".join(f"{m:>14}" for m in r.months))
        for u in r.mailboxes:
            cells = []
            for month in r.months:
                n, size = u.months.get(month, (0, 0))
                cells.append(f"{f'{n} / {human_bytes(size)}':>14}")
            w(f"{u.mailbox.address:<40} " + " ".join(cells))

    def _check(self, *, read_bytes: bool):
        problems = storage.check(read_bytes=read_bytes)
        for problem in problems:
            self.stdout.write(str(problem))
        if problems:
            raise CommandError(f"storage check: {len(problems)} problem(s) found")
        self.stdout.write("storage check: no orphan rows or files, no missing bytes")
