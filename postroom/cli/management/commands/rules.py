from datetime import date

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from postroom.accounts.models import Department
from postroom.mail.models import Message
from postroom.mail.workflow import people_for
from postroom.mailboxes.models import Mailbox
from postroom.routing import actions
from postroom.routing.calendars import CalendarError
from postroom.routing.models import BusinessHours, DistributionRule
from postroom.routing.rules import RuleError, decide, describe, rule_problems

KINDS = DistributionRule.Kind.values


class Command(BaseCommand):
    help = "A mailbox's distribution rules: who becomes responsible for new mail."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        listing = sub.add_parser("list", help="a mailbox's rules, in order (first match wins)")
        listing.add_argument("address")
        add = sub.add_parser("add", help="add a rule (last, or at --position)")
        add.add_argument("address")
        add.add_argument("--kind", choices=KINDS, required=True)
        add.add_argument("--name", default="")
        add.add_argument("--keywords", nargs="+", default=[], metavar="WORD")
        add.add_argument("--regex", action="store_true", help="the keywords are regexes")
        add.add_argument(
            "--in", dest="match_in", choices=DistributionRule.MatchIn.values, default="both"
        )
        add.add_argument("--senders", nargs="+", default=[], metavar="ADDRESS_OR_DOMAIN")
        add.add_argument("--calendar", metavar="NAME", help="business hours (see `calendar`)")
        add.add_argument("--on-call", metavar="USERNAME", help="outside business hours")
        add.add_argument("--user", metavar="USERNAME", help="the person who gets the mail")
        add.add_argument("--queue", nargs="+", default=[], metavar="USERNAME")
        add.add_argument("--department", metavar="NAME", help="its members join the queue")
        add.add_argument("--skip-away", action="store_true")
        add.add_argument("--load-limit", type=int, metavar="N")
        add.add_argument("--position", type=int, metavar="N", help="1 = first")
        add.add_argument("--disabled", action="store_true")
        for name, text in [
            ("disable", "stop using rule N"),
            ("enable", "use rule N again"),
            ("delete", "delete rule N"),
        ]:
            one = sub.add_parser(name, help=text)
            one.add_argument("address")
            one.add_argument("number", type=int, metavar="N")
        move = sub.add_parser("move", help="move rule N to position TO")
        move.add_argument("address")
        move.add_argument("number", type=int, metavar="N")
        move.add_argument("to", type=int, metavar="TO")
        test = sub.add_parser(
            "test", help="who would get an email (takes no round-robin turn, assigns nothing)"
        )
        test.add_argument("address")
        which = test.add_mutually_exclusive_group(required=True)
        which.add_argument("--message", type=int, metavar="ID", help="an email of the mailbox")
        which.add_argument("--sender", metavar="ADDRESS", help="a made-up email from ADDRESS")
        test.add_argument("--subject", default="")
        test.add_argument("--body", default="")
        calendar = sub.add_parser("calendar", help="add or change business hours")
        calendar.add_argument("name")
        calendar.add_argument("--time-zone", default="UTC")
        calendar.add_argument(
            "--week", required=True, help='e.g. "mon-fri 09:00-17:00" (lines by ";")'
        )
        calendar.add_argument("--holidays", nargs="*", default=[], metavar="YYYY-MM-DD")
        away = sub.add_parser("away", help="mark someone away (round-robin may skip them)")
        away.add_argument("username")
        away.add_argument("--from", dest="starts_on", type=date.fromisoformat, required=True)
        away.add_argument("--until", dest="ends_on", type=date.fromisoformat, required=True)

    def handle(self, *args, action, **options):
        if action in ("calendar", "away"):
            return getattr(self, action)(**options)
        mailbox = Mailbox.objects.filter(address__iexact=options.pop("address")).first()
        if mailbox is None:
            raise CommandError("no such mailbox")
        try:
            if action in ("list", "add", "test"):
                return getattr(self, action)(mailbox, **options)
            rule = self._rule(mailbox, options["number"])
            if action in ("disable", "enable"):
                actions.do_set_rule_enabled(rule, action == "enable")
            elif action == "delete":
                actions.do_delete_rule(rule)
            elif action == "move":
                actions.do_move_rule(rule, options["to"])
        except (RuleError, CalendarError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"{mailbox.address}: rule {options['number']} {action}d")
        self.list(mailbox)

    def list(self, mailbox, **options):
        rules = list(actions.rules_of(mailbox))
        if mailbox.crm_route_to_manager:
            self.stdout.write("   0  (mailbox setting) a known client's mail → their manager")
        if not rules:
            self.stdout.write("no rules: all new mail goes to the mailbox's responsible person")
        readers = set(people_for(mailbox).values_list("pk", flat=True))
        for number, rule in enumerate(rules, 1):
            state = "" if rule.enabled else " [disabled]"
            label = f" “{rule.name}”" if rule.name else ""
            self.stdout.write(f"{number:4}{label} {rule.kind}{state}: {describe(rule)}")
            for problem in rule_problems(rule, readers):
                self.stdout.write(f"      ! {problem}")
        default = mailbox.crm_responsible or mailbox.owner
        self.stdout.write(f"   *  otherwise → {default or 'nobody (unassigned)'}")

    def add(self, mailbox, *, kind, position, disabled, **o):
        fields = {
            "kind": kind,
            "name": o["name"],
            "enabled": not disabled,
            "keywords": "\n".join(o["keywords"]),
            "is_regex": o["regex"],
            "match_in": o["match_in"],
            "senders": "\n".join(o["senders"]),
            "target_user": self._user(o["user"]),
            "on_call": self._user(o["on_call"]),
            "queue_users": [self._user(name) for name in o["queue"]],
            "skip_away": o["skip_away"],
            "load_limit": o["load_limit"],
        }
        if o["calendar"]:
            fields["calendar"] = BusinessHours.objects.filter(name=o["calendar"]).first()
            if fields["calendar"] is None:
                raise CommandError(f"no calendar {o['calendar']!r}: add it with `rules calendar`")
        if o["department"]:
            fields["department"] = Department.objects.filter(name=o["department"]).first()
            if fields["department"] is None:
                raise CommandError(f"no department {o['department']!r}")
        rule = actions.do_add_rule(mailbox, position=position, **fields)
        rule.refresh_from_db()
        self.stdout.write(f"{mailbox.address}: rule {rule.position} added")
        self.list(mailbox)

    def test(self, mailbox, *, message, sender, subject, body, **options):
        if message is not None:
            email = Message.objects.filter(pk=message, copies__mailbox=mailbox).first()
            if email is None:
                raise CommandError(f"{mailbox.address} holds no email {message}")
        else:
            email = Message(subject=subject, from_address=sender.lower(), text_body=body)
        decision = decide(email, mailbox, preview=True)
        for line in decision.trace:
            self.stdout.write(f"  {line}")
        who = decision.user or "nobody"
        self.stdout.write(f"→ {who}: {decision.reason}")

    def calendar(self, *, name, time_zone, week, holidays, **options):
        calendar = BusinessHours.objects.filter(name=name).first()
        try:
            calendar = actions.do_save_calendar(
                calendar,
                name=name,
                time_zone=time_zone,
                week=week.replace(";", "\n"),
                holidays="\n".join(holidays),
            )
        except CalendarError as exc:
            raise CommandError(f"calendar not saved: {exc}") from exc
        self.stdout.write(f"calendar {calendar} ({calendar.time_zone}):")
        self.stdout.write(calendar.week_text)
        if calendar.holidays:
            self.stdout.write("holidays: " + ", ".join(calendar.holidays))

    def away(self, *, username, starts_on, ends_on, **options):
        user = self._user(username)
        try:
            actions.do_add_absence(user, starts_on, ends_on)
        except RuleError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"{user} is away from {starts_on} until {ends_on}")

    def _rule(self, mailbox, number: int) -> DistributionRule:
        rules = list(actions.rules_of(mailbox))
        if not 1 <= number <= len(rules):
            raise CommandError(f"{mailbox.address} has no rule {number} (see `rules list`)")
        return rules[number - 1]

    @staticmethod
    def _user(username):
        if not username:
            return None
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"no user {username!r}")
        return user
