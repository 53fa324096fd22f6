import sys

from django.core.management.base import BaseCommand
from honcho.manager import Manager
from honcho.printer import Printer


def postroom_command(args: str) -> str:
    return f"exec {sys.executable} -m postroom {args}"


class Command(BaseCommand):
    help = "Run the sync worker and the job runner (the background half of `postroom run`)."

    def handle(self, *args, **options):
        manager = Manager(Printer(sys.stdout))
        manager.add_process("sync", postroom_command("sync --forever"))
        manager.add_process("jobs", postroom_command("jobs"))
        manager.loop()
        sys.exit(manager.returncode)
