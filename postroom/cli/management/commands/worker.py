import sys

from django.core.management.base import BaseCommand

from postroom.cli.checks import make_data_directory_private
from postroom.lib.supervisor import Child, Supervisor


def postroom_args(*args: str) -> list[str]:
    return [sys.executable, "-m", "postroom", *args]


class Command(BaseCommand):
    help = (
        "Run the sync worker and the job runner (the background half of `postroom run`); "
        "a child that dies is restarted alone."
    )

    def handle(self, *args, **options):
        make_data_directory_private()
        children = [
            Child("sync", postroom_args("sync", "--forever")),
            Child("jobs", postroom_args("jobs")),
        ]
        sys.exit(Supervisor(children, out=sys.stdout.buffer).run())
