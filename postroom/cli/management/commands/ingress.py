import signal
import threading

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from postroom.sync.ingress import IngressError, start_ingress

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Command(BaseCommand):
    help = (
        "Run the SMTP/LMTP ingress: accept mail for known mailboxes and store it like "
        "synced mail, until SIGINT/SIGTERM."
    )

    def add_arguments(self, parser):
        config = settings.POSTROOM
        parser.add_argument(
            "--bind",
            default=config["INGRESS_BIND"],
            help="SMTP HOST:PORT, empty for none (default: POSTROOM_INGRESS_BIND)",
        )
        parser.add_argument(
            "--lmtp-bind",
            default=config["INGRESS_LMTP_BIND"],
            help="LMTP HOST:PORT, empty for none (default: POSTROOM_INGRESS_LMTP_BIND)",
        )

    def handle(self, *args, bind, lmtp_bind, **options):
        try:
            ingress = start_ingress(smtp_bind=bind, lmtp_bind=lmtp_bind)
        except IngressError as exc:
            raise CommandError(str(exc)) from exc
        stop = threading.Event()
        previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in STOP_SIGNALS}
        try:
            # The ingress logs where it listens and each delivery. Waiting with a
            # timeout, so that the main thread wakes for signals on every platform.
            while not stop.wait(1.0):
                pass
        finally:
            # Deliveries in progress finish and get their 250 before the process ends.
            ingress.stop()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        self.stdout.write("ingress stopped")
