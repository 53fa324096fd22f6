import sys

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand
from honcho.manager import Manager
from honcho.printer import Printer

from postroom.accounts.actions import do_ensure_first_admin

from .worker import postroom_command


class Command(BaseCommand):
    help = (
        "Run everything on one machine: web server, sync worker, job runner and the "
        "SMTP/LMTP ingress."
    )

    def add_arguments(self, parser):
        parser.add_argument("--bind", default=settings.POSTROOM["WEB_BIND"])
        parser.add_argument("--web-workers", type=int, default=2)

    def handle(self, *args, bind, web_workers, **options):
        call_command("migrate", interactive=False, verbosity=0)
        if created := do_ensure_first_admin():
            user, password = created
            self.stdout.write(
                f"first administrator created: login {user.username}, "
                f"password {password} (shown once; change it after logging in)"
            )
        self.stdout.write(f"Postroom is starting on http://{bind}/")
        manager = Manager(Printer(sys.stdout))
        manager.add_process(
            "web",
            f"exec {sys.executable} -m gunicorn postroom.wsgi --bind {bind} "
            f"--workers {web_workers} --access-logfile - --graceful-timeout 5",
        )
        manager.add_process("sync", postroom_command("sync --forever"))
        manager.add_process("jobs", postroom_command("jobs"))
        config = settings.POSTROOM
        if config["INGRESS_BIND"] or config["INGRESS_LMTP_BIND"]:
            # Reads its binds from the same settings; both empty turn it off.
            manager.add_process("ingress", postroom_command("ingress"))
        manager.loop()
        sys.exit(manager.returncode)
