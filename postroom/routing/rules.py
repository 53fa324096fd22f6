"""Who becomes responsible for an email: a mailbox's distribution rules, in order.

`RuleSet.load(mailbox)` reads the mailbox's enabled rules with everything they name
(users, queues, departments' members, calendars) once, and each process keeps them
until something they depend on changes (changes.py); `RuleSet.decide(message)` then
costs no query for keyword, sender and business-hours rules, and one locked read and
write of the turn for a round-robin. The first rule that matches and names someone
available wins; a rule whose person is deactivated, whose department is empty or whose
queue is all away falls through to the next and says so (in the decision's trace, the
log, and on the rules page through `rule_problems`). Nothing matching: the mailbox's
responsible person (crm_responsible, else its owner).

A mailbox with "route to the client's manager" (crm_route_to_manager) behaves as if its
first rule were the manager rule.
"""

import logging
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Count
from django.utils import timezone

from postroom.accounts.people import display_name
from postroom.mail.models import Conversation, Message
from postroom.mail.workflow import people_for
from postroom.mailboxes.models import Mailbox

from . import changes, roundrobin
from .models import Absence, DistributionRule

logger = logging.getLogger(__name__)

# A keyword rule reads this much of a body at most: the start of an email says what it
# is about, and a pathological pattern on a megabyte of text must not stall capture.
BODY_SCAN_CHARS = 100_000
_TAG = re.compile(r"<[^>]*>")


class RuleError(ValueError):
    """A rule that cannot be saved, with the reason in words."""


@dataclass
class Decision:
    """Who is responsible, by which rule (None: the mailbox's default) and why."""

    user: object | None
    rule: DistributionRule | None
    reason: str
    trace: list[str] = field(default_factory=list)


# ----------------------------------------------------------------- checking rules


def keyword_pattern(keywords: str, is_regex: bool) -> re.Pattern:
    """One pattern for a rule's keywords (one a line): whole words in any case, or
    regular expressions; RuleError names a line that does not compile."""
    lines = [line.strip() for line in keywords.splitlines() if line.strip()]
    if not lines:
        raise RuleError("give at least one keyword")
    parts = []
    for line in lines:
        if is_regex:
            try:
                re.compile(line)
            except re.error as exc:
                raise RuleError(f"{line!r} is not a valid regular expression: {exc}") from None
            parts.append(f"(?:{line})")
        else:
            parts.append(rf"(?<!\w){re.escape(line)}(?!\w)")
    return re.compile("|".join(parts), re.IGNORECASE)


def sender_set(senders: str) -> set[str]:
    """Addresses and domains (lower case; "@partner.com" is the domain partner.com)."""
    found = set()
    for line in senders.replace(",", "\n").splitlines():
        item = line.strip().lower().lstrip("@") if line.strip().startswith("@") else line
        item = item.strip().lower()
        if not item:
            continue
        local, at, domain = item.rpartition("@")
        if (at and not local) or "." not in (domain if at else item) or " " in item:
            raise RuleError(f"{line.strip()!r} is not an address or a domain")
        found.add(item)
    if not found:
        raise RuleError("give at least one sender address or domain")
    return found


def check_rule(rule: DistributionRule, queue_user_ids: Iterable[int] = ()) -> None:
    """Refuse a rule that cannot work, saying why (forms and the CLI call this)."""
    kind = DistributionRule.Kind
    if rule.kind not in kind.values:
        raise RuleError(f"unknown kind {rule.kind!r}")
    if rule.kind == kind.KEYWORD:
        keyword_pattern(rule.keywords, rule.is_regex)
    if rule.kind == kind.SENDER:
        sender_set(rule.senders)
    if rule.kind == kind.HOURS:
        if rule.calendar_id is None:
            raise RuleError("a business-hours rule needs a calendar")
        if rule.on_call_id is None:
            raise RuleError("a business-hours rule needs an on-call person for outside them")
    has_queue = bool(list(queue_user_ids)) or rule.department_id is not None
    if rule.kind == kind.ROUND_ROBIN and (rule.target_user_id or not has_queue):
        raise RuleError("a round-robin rule needs a queue: people, a department or both")
    if rule.kind != kind.MANAGER and rule.target_user_id is None and not has_queue:
        raise RuleError("say who gets the mail: a person, or a queue of people or a department")


def rule_problems(rule: DistributionRule, readers: set[int] | None = None) -> list[str]:
    """Why a saved rule would fall through now (deactivated people, people who may not
    read the mailbox, empty queues); `readers`: people_for(mailbox)'s ids, if known."""
    if readers is None:
        readers = set(people_for(rule.mailbox).values_list("pk", flat=True))
    problems = []
    address = rule.mailbox.address
    for user, who in ((rule.target_user, ""), (rule.on_call, "the on-call person ")):
        if user is not None and user.is_active and user.pk not in readers:
            problems.append(f"{who}{user} may not read {address}: the rule falls through")
    if rule.target_user_id and not rule.target_user.is_active:
        problems.append(f"{display_name(rule.target_user)} is deactivated: the rule falls through")
    if rule.kind == DistributionRule.Kind.HOURS and rule.on_call and not rule.on_call.is_active:
        problems.append(
            f"the on-call person {display_name(rule.on_call)} is deactivated:"
            " outside hours it falls through"
        )
    if rule.kind != DistributionRule.Kind.MANAGER and rule.target_user_id is None:
        if rule.department_id and not any(
            u.is_active for u in rule.department.group.user_set.all()
        ):
            problems.append(f"department {rule.department} has no active members")
        queue = _queue(rule)
        if not queue:
            problems.append("its queue has no active members: the rule falls through")
        elif outsiders := [str(u) for u in queue if u.pk not in readers]:
            problems.append(f"passed over, as they may not read {address}: {', '.join(outsiders)}")
    return problems


# ----------------------------------------------------------------- deciding


@dataclass
class _Rule:
    rule: DistributionRule
    label: str
    pattern: re.Pattern | None = None
    # Plain keywords, lower case: a cheap substring test before the whole-word pattern.
    words: tuple[str, ...] = ()
    senders: frozenset[str] = frozenset()
    queue: list = field(default_factory=list)  # active members, by id


def _compile(mailbox: Mailbox, rules: list[DistributionRule]) -> tuple[_Rule, ...]:
    """The rules ready to decide with: patterns compiled, queues read; a broken rule is
    skipped with a warning."""
    items = []
    for index, rule in enumerate(rules, 1):
        label = f"rule {index} “{rule}”" if rule.pk else f"“{rule}” (the mailbox's setting)"
        try:
            item = _Rule(rule, label, queue=_queue(rule) if rule.pk else [])
            if rule.kind == DistributionRule.Kind.KEYWORD:
                item.pattern = keyword_pattern(rule.keywords, rule.is_regex)
                if not rule.is_regex:
                    item.words = tuple(
                        w.strip().lower() for w in rule.keywords.splitlines() if w.strip()
                    )
            elif rule.kind == DistributionRule.Kind.SENDER:
                item.senders = frozenset(sender_set(rule.senders))
        except RuleError as exc:  # saved before a check existed, or edited in the admin
            logger.warning("mailbox %s: %s is broken and skipped: %s", mailbox, label, exc)
            continue
        items.append(item)
    return tuple(items)


@dataclass(frozen=True)
class _Loaded:
    version: int
    at: float
    rules: tuple[_Rule, ...]
    readers: set[int] | None


# Each mailbox's loaded rules in this process (RuleSet.load). A change made without the
# ORM's signals (SQL by hand) is seen after LOADED_SECONDS at the latest.
LOADED_SECONDS = 60.0
_loaded: dict[tuple, _Loaded] = {}


def forget_loaded() -> None:
    """Drop every mailbox's loaded rules (tests: a rolled-back transaction takes its
    changes back, and with them the version the rules were loaded at)."""
    _loaded.clear()


class RuleSet:
    """A mailbox's rules, read once, for deciding a batch of emails."""

    def __init__(
        self, mailbox: Mailbox, rules: tuple[_Rule, ...], readers: set[int] | None = None
    ) -> None:
        self.mailbox = mailbox
        self.rules = rules
        self.needs_body = any(
            r.pattern is not None and r.rule.match_in != DistributionRule.MatchIn.SUBJECT
            for r in self.rules
        )
        self.needs_contact = any(r.rule.kind == DistributionRule.Kind.MANAGER for r in self.rules)
        self._away: set[int] | None = None
        self._loads: dict[int, int] | None = None
        self._readers = readers
        # A batch's turns, held under their locks until its transaction ends (the
        # pipeline sets it and flushes it); None: each turn in its own statements.
        self.held: roundrobin.HeldTurns | None = None

    @classmethod
    def load(cls, mailbox: Mailbox) -> "RuleSet":
        """The mailbox's rules, from this process's copy while nothing routing reads has
        changed since it was read (changes.version()): reading them costs 10-17 ms of
        ORM work, and a job runner decides every email of every mailbox."""
        key = (mailbox.pk, mailbox.kind, mailbox.owner_id, mailbox.crm_route_to_manager)
        current, now = changes.version(), time.monotonic()
        hit = _loaded.get(key)
        if hit is not None and hit.version == current and now - hit.at < LOADED_SECONDS:
            return cls(mailbox, hit.rules, hit.readers)
        rules = list(
            DistributionRule.objects.filter(mailbox=mailbox, enabled=True)
            .order_by("position", "pk")
            .select_related("target_user", "on_call", "calendar", "department__group")
            .prefetch_related("queue_users", "department__group__user_set")
        )
        if mailbox.crm_route_to_manager:
            manager = DistributionRule(
                mailbox=mailbox,
                kind=DistributionRule.Kind.MANAGER,
                name="Route to the client's manager",
            )
            rules.insert(0, manager)
        ruleset = cls(mailbox, _compile(mailbox, rules))
        if ruleset.rules:
            ruleset.readers  # noqa: B018 - read now, with the rules, not by the first email
        _loaded[key] = _Loaded(current, now, ruleset.rules, ruleset._readers)
        return ruleset

    # -- the default

    def default(self, trace: list[str]) -> Decision:
        user = self.mailbox.crm_responsible or self.mailbox.owner
        if user is not None and user.is_active:
            return Decision(user, None, f"no rule matched: the mailbox's responsible {user}", trace)
        why = (
            f"{display_name(user)} is deactivated"
            if user
            else "the mailbox has no responsible person"
        )
        return Decision(None, None, f"no rule matched and {why}: left unassigned", trace)

    # -- deciding

    def decide(
        self,
        message: Message,
        *,
        contact=None,
        at: datetime | None = None,
        preview: bool = False,
    ) -> Decision:
        """Who is responsible for this email; `preview` takes no round-robin turn and
        logs nothing ("Who would get this?")."""
        at = at or timezone.now()
        trace: list[str] = []
        email = _Email(message)
        for item in self.rules:
            matched, why = self._matches(item, email, contact, at)
            if not matched:
                trace.append(f"{item.label}: no match{f' ({why})' if why else ''}")
                continue
            user, problem = self._target(item, contact, at, preview)
            if user is None:
                trace.append(f"{item.label}: matched ({why}) but {problem}: falls through")
                if not preview:
                    logger.warning(
                        "mailbox %s, message %s: %s matched but %s; falls through to the next",
                        self.mailbox.address,
                        message.pk,
                        item.label,
                        problem,
                    )
                continue
            reason = f"{item.label}: {why} → {user}"
            trace.append(reason)
            if not preview and self._loads is not None:
                self._loads[user.pk] = self._loads.get(user.pk, 0) + 1
            return Decision(user, item.rule if item.rule.pk else None, reason, trace)
        return self.default(trace)

    def _matches(self, item: _Rule, email: "_Email", contact, at) -> tuple[bool, str]:
        rule, kind = item.rule, DistributionRule.Kind
        if rule.kind == kind.KEYWORD:
            for part in ("subject", "body"):
                if rule.match_in not in (part, "both"):
                    continue
                if item.words and not any(w in email.lower(part) for w in item.words):
                    continue  # none of the words at all: no need for the pattern
                if found := item.pattern.search(email.text(part)):
                    return True, f"“{found[0]}” in the {part}"
            return False, ""
        if rule.kind == kind.SENDER:
            address = (email.message.from_address or "").lower()
            if address in item.senders:
                return True, f"sender {address}"
            domain = address.rpartition("@")[2]
            while domain.count(".") >= 1:
                if domain in item.senders:
                    return True, f"sender's domain {domain}"
                domain = domain.partition(".")[2]
            return False, ""
        if rule.kind == kind.MANAGER:
            if contact is None or getattr(contact, "pk", None) is None:
                return False, "not a known client"
            if contact.responsible_id is None:
                return False, f"the client {contact} has no responsible manager"
            return True, f"the client {contact}'s manager"
        if rule.kind == kind.HOURS:
            calendar = rule.calendar
            if calendar.is_open(at):
                return True, f"within {calendar} ({calendar.time_zone})"
            return True, f"outside {calendar} ({calendar.time_zone}): the on-call person"
        return True, "round-robin"

    def _target(self, item: _Rule, contact, at: datetime, preview: bool):
        rule, kind = item.rule, DistributionRule.Kind
        if rule.kind == kind.MANAGER:
            return self._available(contact.responsible, "the client's manager")
        if rule.kind == kind.HOURS and not rule.calendar.is_open(at):
            return self._available(rule.on_call, "the on-call person")
        if rule.target_user_id is not None:
            return self._available(rule.target_user, "the rule's person")
        if not item.queue:
            if rule.department_id is not None and not rule.queue_users.all():
                return None, f"department {rule.department} has no active members"
            return None, "its queue has no active members"
        eligible = [u for u in item.queue if u.pk in self.readers]
        if not eligible:
            return None, f"nobody in its queue may read {self.mailbox.address}"
        if rule.skip_away:
            away = self._away_on(at)
            eligible = [u for u in eligible if u.pk not in away]
        if rule.load_limit is not None:
            loads = self._load_of()
            eligible = [u for u in eligible if loads.get(u.pk, 0) < rule.load_limit]
        if not eligible:
            return None, "everyone in its queue is away or at the load limit"
        by_id = {u.pk: u for u in eligible}
        if preview:
            return by_id[roundrobin.peek_turn(rule, by_id)], ""
        if self.held is not None:
            return by_id[self.held.take(rule, by_id)], ""
        return by_id[roundrobin.take_turn(rule, by_id)], ""

    @property
    def readers(self) -> set[int]:
        """Who may be responsible for the mailbox's mail: the active people who may read
        it (read once per batch)."""
        if self._readers is None:
            self._readers = set(people_for(self.mailbox).values_list("pk", flat=True))
        return self._readers

    def _available(self, user, who: str):
        user, problem = _active(user, who)
        if user is not None and user.pk not in self.readers:
            return None, f"{who} {user} may not read {self.mailbox.address}"
        return user, problem

    def _away_on(self, at: datetime) -> set[int]:
        if self._away is None:
            self._away = Absence.away_on(timezone.localdate(at))
        return self._away

    def _load_of(self) -> dict[int, int]:
        if self._loads is None:
            self._loads = open_loads()
        return self._loads


def decide(message: Message, mailbox: Mailbox, *, contact=None, at=None, preview=False) -> Decision:
    """The rules of one mailbox against one email (RuleSet for a batch)."""
    rules = RuleSet.load(mailbox)
    if contact is None and rules.needs_contact:
        contact = contact_of(message.from_address)
    return rules.decide(message, contact=contact, at=at, preview=preview)


def contact_of(address: str):
    """The client an address belongs to, with their manager; None if unknown."""
    from postroom.crm.senders import Directory

    return Directory.lookup([address]).contact(address) if address else None


def open_loads() -> dict[int, int]:
    """Open conversations per responsible person (a round-robin's load limit)."""
    rows = Conversation.objects.filter(
        responsible__isnull=False, status=Conversation.Status.OPEN
    ).values("responsible")
    return dict(rows.annotate(n=Count("pk")).values_list("responsible", "n"))


def _queue(rule: DistributionRule) -> list:
    """A rule's queue: its people and its department's members, active ones, by id."""
    members = {u.pk: u for u in rule.queue_users.all() if u.is_active}
    if rule.department_id is not None:
        members.update({u.pk: u for u in rule.department.group.user_set.all() if u.is_active})
    return [members[pk] for pk in sorted(members)]


def _active(user, who: str):
    if user is None:
        return None, f"{who} is not set"
    if not user.is_active:
        return None, f"{who} {display_name(user)} is deactivated"
    return user, ""


class _Email:
    """An email's subject and body as keyword rules read them, each made once."""

    def __init__(self, message: Message) -> None:
        self.message = message
        self._texts: dict[str, str] = {}

    def text(self, part: str) -> str:
        if part not in self._texts:
            if part == "subject":
                self._texts[part] = self.message.subject or ""
            else:
                message = self.message
                body = message.text_body or _TAG.sub(" ", message.html_body or "")
                self._texts[part] = body[:BODY_SCAN_CHARS]
        return self._texts[part]

    def lower(self, part: str) -> str:
        key = f"{part}:lower"
        if key not in self._texts:
            self._texts[key] = self.text(part).lower()
        return self._texts[key]


def describe(rule: DistributionRule) -> str:
    """A rule in one line: its condition, then who gets the mail."""
    kind = DistributionRule.Kind
    if rule.kind == kind.KEYWORD:
        words = ", ".join(w.strip() for w in rule.keywords.splitlines() if w.strip())
        what = "regular expression" if rule.is_regex else "keyword"
        where = {"subject": "the subject", "body": "the body"}.get(rule.match_in, "subject or body")
        condition = f"{what} {words} in {where}"
    elif rule.kind == kind.SENDER:
        try:
            condition = "from " + ", ".join(sorted(sender_set(rule.senders)))
        except RuleError as exc:  # saved by other means than the form or the CLI
            condition = f"from {rule.senders!r} (broken: {exc})"
    elif rule.kind == kind.MANAGER:
        return "a known client's mail → the client's responsible manager"
    elif rule.kind == kind.HOURS:
        condition = f"within {rule.calendar} ({rule.calendar.time_zone})"
    else:
        condition = "every email"
    if rule.target_user_id is not None:
        target = str(rule.target_user)
    else:
        names = [str(u) for u in rule.queue_users.all()]
        if rule.department_id is not None:
            names.append(f"department {rule.department}")
        target = "in turn: " + ", ".join(names)
        options = []
        if rule.skip_away:
            options.append("skipping people away")
        if rule.load_limit is not None:
            options.append(f"and those with {rule.load_limit}+ open conversations")
        if options:
            target += f" ({' '.join(options)})"
    text = f"{condition} → {target}"
    if rule.kind == kind.HOURS:
        text += f"; outside them → {rule.on_call} (on call)"
    return text
