from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from postroom.mailboxes.models import Mailbox
from postroom.routing import sla
from postroom.routing.models import BusinessHours, DistributionRule, SlaPolicy


class Command(BaseCommand):
    help = "Reply deadlines (SLA) of a mailbox or of one of its distribution rules."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        show = sub.add_parser("show", help="the mailbox's policies")
        show.add_argument("address")
        put = sub.add_parser("set", help="set the mailbox's policy (or a rule's)")
        put.add_argument("address")
        put.add_argument("--rule", type=int, help="a distribution rule's id: its own policy")
        put.add_argument("--first", type=int, required=True, help="minutes to a first reply")
        put.add_argument("--next", type=int, required=True, help="minutes to a next reply")
        put.add_argument(
            "--grace", type=int, default=60, help="working minutes from a breach to escalation"
        )
        put.add_argument("--calendar", default="", help="business hours (empty: round the clock)")
        put.add_argument("--supervisor", default="",
                         help="username (empty: the mailbox's managers)")  # fmt: skip
        remove = sub.add_parser("remove", help="remove the mailbox's policy (or a rule's)")
        remove.add_argument("address")
        remove.add_argument("--rule", type=int)
        sub.add_parser("sweep", help="raise the deadlines that came, now")

    def handle(self, *args, action, **options):
        if action == "sweep":
            self.stdout.write(str(sla.sweep()))
            return
        mailbox = Mailbox.objects.filter(address__iexact=options["address"]).first()
        if mailbox is None:
            raise CommandError(f"no mailbox {options['address']!r}")
        rule = self._rule(mailbox, options.get("rule"))
        if action == "set":
            self._set(mailbox, rule, **{k: v for k, v in options.items() if k != "rule"})
        elif action == "remove" and not sla.do_remove_policy(mailbox, rule=rule):
            raise CommandError("there was no such policy")
        self._show(mailbox)

    def _rule(self, mailbox, rule_id):
        if rule_id is None:
            return None
        rule = DistributionRule.objects.filter(pk=rule_id, mailbox=mailbox).first()
        if rule is None:
            raise CommandError(f"{mailbox.address} has no rule {rule_id}")
        return rule

    def _set(self, mailbox, rule, *, first, next, grace, calendar, supervisor, **_):  # noqa: A002
        found = None
        if calendar:
            found = BusinessHours.objects.filter(name=calendar).first()
            if found is None:
                raise CommandError(f"no business-hours calendar {calendar!r}")
        person = None
        if supervisor:
            person = get_user_model().objects.filter(username=supervisor).first()
            if person is None:
                raise CommandError(f"no user {supervisor!r}")
        try:
            sla.do_set_policy(
                mailbox, rule=rule, first_reply_minutes=first, next_reply_minutes=next,
                grace_minutes=grace, calendar=found, supervisor=person,
            )  # fmt: skip
        except sla.SlaError as exc:
            raise CommandError(str(exc)) from None

    def _show(self, mailbox):
        policies = SlaPolicy.objects.filter(mailbox=mailbox).select_related(
            "rule", "calendar", "supervisor"
        )
        if not policies:
            self.stdout.write(f"{mailbox.address}: no reply deadlines")
        for policy in policies:
            where = f"rule {policy.rule_id} ({policy.rule})" if policy.rule else "the mailbox"
            hours = f"in {policy.calendar.name} hours" if policy.calendar else "round the clock"
            who = policy.supervisor or "the mailbox's managers"
            self.stdout.write(
                f"{mailbox.address}, {where}: first reply within "
                f"{sla.in_words(policy.first_reply_minutes)}, next within "
                f"{sla.in_words(policy.next_reply_minutes)}, {hours}; after "
                f"{sla.in_words(policy.grace_minutes)} more, {who} is told"
            )
