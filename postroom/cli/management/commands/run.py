import signal
import sys

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from postroom.accounts.actions import do_ensure_first_admin
from postroom.cli.checks import make_data_directory_private
from postroom.cli.web_server import gunicorn_command
from postroom.lib.supervisor import Child, Supervisor

from .worker import postroom_args as _postroom


class Command(BaseCommand):
    help = (
        "Run everything on one machine: web server, sync worker, job runner and the "
        "SMTP/LMTP ingress. A child that dies is restarted alone; all stop together."
    )

    def add_arguments(self, parser):
        parser.add_argument("--bind", default=settings.POSTROOM["WEB_BIND"])
        parser.add_argument("--web-workers", type=int, default=2)

    def handle(self, *args, bind, web_workers, **options):
        make_data_directory_private()
        call_command("migrate", interactive=False, verbosity=0)
        if created := do_ensure_first_admin():
            user, password = created
            self.stdout.write(
                f"first administrator created: login {user.username}, "
                f"password {password} (shown once; change it after logging in)"
            )
        self.stdout.write(f"Postroom is starting on http://{bind}/")
        self.stdout.flush()
        gunicorn = gunicorn_command(bind, web_workers)
        children = [
            # SIGTERM, not SIGKILL, if `run` dies: gunicorn's master then stops its
            # workers, which would otherwise keep the port for up to 15 s.
            Child("web", gunicorn, death_signal=signal.SIGTERM),
            Child("sync", _postroom("sync", "--forever")),
            Child("jobs", _postroom("jobs")),
        ]
        config = settings.POSTROOM
        if config["INGRESS_BIND"] or config["INGRESS_LMTP_BIND"]:
            # Reads its binds from the same settings; both empty turn it off.
            children.append(Child("ingress", _postroom("ingress")))
        sys.exit(Supervisor(children, out=sys.stdout.buffer).run())
