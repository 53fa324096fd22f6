from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from postroom import jobs
from postroom.lib.sqlite_wal import wal_kept_open
from postroom.mail.models import quarantined_in
from postroom.mailboxes.models import Mailbox
from postroom.sync import imap, worker
from postroom.sync.service import sync_mailbox


class Command(BaseCommand):
    help = "Fetch new mail: one mailbox once, every mailbox once, or forever (the sync worker)."

    def add_arguments(self, parser):
        parser.add_argument("address", nargs="?", help="the mailbox; all when omitted")
        mode = parser.add_mutually_exclusive_group(required=True)
        mode.add_argument("--once", action="store_true", help="fetch what is new, then exit")
        mode.add_argument("--forever", action="store_true", help="keep syncing (the worker)")
        parser.add_argument(
            "--no-jobs",
            action="store_true",
            help="with --once: leave parsing and CRM capture to the running job runner",
        )

    def handle(self, *args, address, once, forever, no_jobs, **options):
        if forever:
            return self.forever()
        mailboxes = Mailbox.objects.all()
        if address:
            mailboxes = mailboxes.filter(address__iexact=address)
            if not mailboxes:
                raise CommandError(f"no mailbox {address}")
        failed = 0
        for mailbox in mailboxes:
            failed += not self.sync_one(mailbox)
        if not no_jobs:
            # Embedded: run the parse and CRM jobs this sync queued, so that what was
            # fetched is in the CRM when the command returns.
            # The WAL checkpointed beside the jobs, not in their commits.
            with wal_kept_open(checkpoint_every=0.2):
                jobs.drain_embedded_queue()
            for mailbox in mailboxes:
                if count := quarantined_in(mailbox).count():
                    self.stderr.write(
                        f"{mailbox.address}: {count} message(s) could not be parsed and are "
                        "quarantined with their raw bytes; they show in the mailbox"
                    )
        if failed:
            raise CommandError(f"{failed} mailbox(es) failed")

    def sync_one(self, mailbox: Mailbox) -> bool:
        if not mailbox.has_imap:
            self.stdout.write(f"{mailbox.address}: no IMAP server, fed by the ingress only")
            return True
        with tqdm(desc=mailbox.address, unit="msg", disable=None, leave=False) as bar:

            def progress(done: int, total: int) -> None:
                bar.total = total
                bar.n = done
                bar.refresh()

            try:
                summary = sync_mailbox(mailbox, progress=progress)
            except imap.SyncError as exc:
                self.stderr.write(f"{mailbox.address}: {exc}")
                return False
        self.stdout.write(f"{mailbox.address}: {summary}")
        return True

    def forever(self):
        self.stdout.write("sync worker started")
        worker.run_forever()
