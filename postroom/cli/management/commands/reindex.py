import time

from django.core.management.base import BaseCommand, CommandError

from postroom.mail.search import reindex

REPORT_EVERY = 10_000


class Command(BaseCommand):
    help = (
        "Rebuild the search index from the stored messages: run once after upgrading to a "
        "version with search, or whenever search misses mail. Safe to run at any time and "
        "to interrupt; Postroom keeps running meanwhile."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--batch-size", type=int, default=500, help="messages per transaction (500)"
        )

    def handle(self, *args, batch_size, **options):
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1")
        started = time.monotonic()
        reported = 0

        def progress(done: int) -> None:
            nonlocal reported
            if done - reported >= REPORT_EVERY:
                reported = done
                self.stderr.write(f"{done} messages indexed")

        indexed, removed = reindex(batch_size=batch_size, progress=progress)
        self.stdout.write(
            f"indexed {indexed} messages, removed {removed} stale entries "
            f"in {time.monotonic() - started:.1f} s"
        )
