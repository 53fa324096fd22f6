from django.core.management.base import BaseCommand, CommandError

from postroom.mailboxes.models import Mailbox
from postroom.outbound.autoreply import AutoReplyError, do_configure_auto_reply
from postroom.routing.autoreply import settings_of
from postroom.routing.autoreply_models import AutoReply, AutoReplyLog
from postroom.routing.models import BusinessHours


class Command(BaseCommand):
    help = "A mailbox's auto-reply: when it answers by itself, and with what."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        show = sub.add_parser("show", help="the setting and the latest decisions")
        show.add_argument("address")
        put = sub.add_parser("set", help="set when and what it answers")
        put.add_argument("address")
        put.add_argument("--when", choices=AutoReply.When.values, required=True)
        put.add_argument("--calendar", default="", help="a business-hours calendar's name")
        put.add_argument("--subject", default="", help="empty: Re: and the customer's subject")
        put.add_argument("--body", default="", help="the text; placeholders as in templates")
        put.add_argument("--body-file", default="", help="read the text from this file")
        put.add_argument("--period-days", type=int, default=4)

    def handle(self, *args, action, address, **options):
        mailbox = Mailbox.objects.filter(address__iexact=address).first()
        if mailbox is None:
            raise CommandError(f"no mailbox {address!r}")
        if action == "set":
            self._set(mailbox, **options)
        self._show(mailbox)

    def _set(self, mailbox, *, when, calendar, subject, body, body_file, period_days, **_):
        if body_file:
            with open(body_file, encoding="utf-8") as text:
                body = text.read()
        found = None
        if calendar:
            found = BusinessHours.objects.filter(name=calendar).first()
            if found is None:
                raise CommandError(f"no business-hours calendar {calendar!r}")
        try:
            do_configure_auto_reply(
                mailbox, when=when, calendar=found, subject=subject, body=body,
                period_days=period_days,
            )  # fmt: skip
        except AutoReplyError as exc:
            raise CommandError(str(exc)) from None

    def _show(self, mailbox):
        current = settings_of(mailbox)
        if current is None or current.when == AutoReply.When.OFF:
            self.stdout.write(f"{mailbox.address}: auto-reply off")
        else:
            calendar = f" ({current.calendar.name})" if current.calendar else ""
            self.stdout.write(
                f"{mailbox.address}: {current.get_when_display()}{calendar}, "
                f"at most once per sender in {current.period_days} day(s)"
            )
        latest = AutoReplyLog.objects.filter(mailbox=mailbox).order_by("-pk")[:10]
        for entry in latest:
            what = "sent" if entry.sent else f"not sent: {entry.reason}"
            self.stdout.write(f"  {entry.created_at:%Y-%m-%d %H:%M} {entry.sender or '-'}: {what}")
