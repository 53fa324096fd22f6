"""CRM capture: put an email on the right CRM items, by the mailbox's rule.

For an incoming email, in order:
1. Never in the CRM: machine mail (auto-replies, lists, bounces) and mail between the
   organisation's own people (its users, mailboxes and POSTROOM_INTERNAL_DOMAINS).
   Spam never gets here (the pipeline captures only copies outside the spam folder).
2. Known sender (any email of a contact, or an open lead's): bound to the contact, its
   company and its target item — the newest open deal, or for a smart rule the newest
   open item of the mailbox's smart type. With "route to manager" on and a contact with
   a responsible manager, the target is the newest open one that manager owns.
   With no open target, contact-deal and smart rules create one (for the manager when
   routing to them, else for the mailbox's responsible person); the lead and none
   rules create nothing for a known person.
3. Unknown sender from a known company's domain (not free mail), with the mailbox's
   crm_join_company_domain on and a rule other than none: a new contact of that company,
   then as 2.
4. Unknown sender: the rule — a lead; a contact and an open deal; a contact and a smart
   item of the mailbox's type in its first stage; or nothing.
New items notify the mailbox's crm_notify users. Their responsible person is the
caller's `responsible(message, contact)` when given (the pipeline passes the routing
rules' decision, postroom/routing/assign.py), else the mailbox's responsible person.

Outgoing mail (from the organisation, or in the mailbox's Sent folder) is bound to the
items of its external recipients (To, Cc) and to those of the email it answers; it
never creates anything.

One incoming email, one outcome, however many mailboxes hold it: of the mailboxes with
a copy outside spam (and a rule other than none), the first in CRM precedence (the
administrator's number, then shared before personal, then the oldest: organisation.py)
decides. Another mailbox's capture of it does nothing: the decider's own capture,
queued with its copy, will (or did) run. The activity records the deciding mailbox
(`rule_mailbox`). When the decider's copy arrives after a lower mailbox already applied
its rule (another sync, minutes later), the items that rule made from this email alone
are replaced, unless someone has worked on them (a comment, a task, another email, a
stage change): then they stay, and the email is bound to them. Both captures lock the
sender's address (locks.py), so two runners capturing the two copies take turns.
"""

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.contrib.contenttypes.models import ContentType
from django.db import models, transaction
from django.db.models import Q
from django.utils import timezone

from postroom import webhooks
from postroom.mail.bulk import create_objects, insert_ignoring_conflicts
from postroom.mail.models import Message, MessageCopy
from postroom.mailboxes.models import CrmRuleKind, Folder, Mailbox

from . import actions
from .locks import lock_addresses
from .models import (
    Activity,
    Contact,
    ContactEmail,
    Deal,
    Lead,
    Pipeline,
    SmartItem,
    SmartType,
    Stage,
    TimelineEntry,
    normalise_email,
)
from .senders import Directory, external_recipients, machine_mail_reason, sent_by_us

logger = logging.getLogger(__name__)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass
class CaptureResult:
    """What capture did with one email, for logs, the CLI summary and tests."""

    skipped: str = ""
    direction: str = "in"
    created: list[models.Model] = field(default_factory=list)
    bound: list[models.Model] = field(default_factory=list)
    notified: int = 0


@dataclass
class _Context:
    """What capturing a batch of one mailbox's mail looks up once."""

    mailbox: Mailbox
    directory: Directory
    sent: set[int]
    smart_type: SmartType | None = None
    smart_type_missing: bool = False
    activities: dict[int, Activity] = field(default_factory=dict)  # by message id
    # Open deals (or smart items of the mailbox's type) of the batch's known people, by
    # contact id and, for those without a contact, by company id; newest last.
    open_by_contact: dict[int, list] = field(default_factory=dict)  # by _key(contact)
    open_by_company: dict[int, list] = field(default_factory=dict)
    # Written in bulk by flush(), a few statements for the whole batch: new items (not
    # saved yet: no pk until then), their emails, new activities with their items,
    # bindings of existing activities to new items, "created" entries, notifications.
    pending_new: list[models.Model] = field(default_factory=list)
    pending_emails: list[ContactEmail] = field(default_factory=list)
    pending_activities: list[tuple[Activity, list[models.Model]]] = field(default_factory=list)
    pending_bindings: list[tuple[Activity, list[models.Model]]] = field(default_factory=list)
    pending_created: list[tuple[models.Model, str]] = field(default_factory=list)
    pending_notes: list[tuple[CaptureResult, Message]] = field(default_factory=list)
    _cache: dict = field(default_factory=dict)
    # Incoming emails whose CRM outcome another mailbox's rule decides: {message id: its
    # address}; that mailbox's capture does it.
    decided_elsewhere: dict[int, str] = field(default_factory=dict)
    # Who is responsible for a new item from an email (message, contact or None).
    responsible_for: Callable | None = None

    def responsible(self, message: Message, contact: Contact | None = None):
        if self.responsible_for is not None:
            return self.responsible_for(message, contact)
        return actions.default_responsible(self.mailbox)

    def new(self, item: models.Model) -> models.Model:
        """An item to create at flush(); usable as a foreign key value until then."""
        self.pending_new.append(item)
        return item

    def new_email(self, contact: Contact, address: str) -> None:
        self.pending_emails.append(
            ContactEmail(contact=contact, email=normalise_email(address), is_primary=True)
        )

    def notify(self, result: CaptureResult, message: Message) -> None:
        if result.created:
            self.pending_notes.append((result, message))

    def bind(self, message: Message, direction: str, items: list[models.Model]):
        """Put the email on the items; returns those it was not on before. A new activity
        and its entries wait for flush()."""
        items = _unique([i for i in items if i is not None])
        existing = self.activities.get(message.pk)
        if existing is not None:
            saved = [i for i in items if i.pk is not None]
            unsaved = [i for i in items if i.pk is None]  # new: surely not bound yet
            if unsaved:
                self.pending_bindings.append((existing, unsaved))
            return actions.do_bind_activity_to(existing, saved) + unsaved
        activity = Activity(
            message=message,
            kind=Activity.Kind.EMAIL,
            direction=direction,
            subject=message.subject,
            occurred_at=message.sort_time,
            responsible_id=items[0].responsible_id if items else None,
            rule_mailbox=self.mailbox if direction == "in" else None,
        )
        self.activities[message.pk] = activity
        self.pending_activities.append((activity, items))
        return items

    def created(self, item: models.Model, text: str) -> None:
        self.pending_created.append((item, text))

    def flush(self) -> None:
        """Write what the batch made: one INSERT per table, whatever the batch's size."""
        # In the order of their foreign keys: contacts before their emails and deals.
        # bulk.create_objects, not bulk_create: compiling every value of every row made
        # writing the batch cost more than deciding what to write.
        for model in (Contact, Lead, Deal, SmartItem):
            create_objects([i for i in self.pending_new if type(i) is model])
        webhooks.emit("lead.created", *(i for i in self.pending_new if type(i) is Lead))
        create_objects(self.pending_emails)
        create_objects([a for a, _ in self.pending_activities])
        now = timezone.now()
        type_of = ContentType.objects.get_for_model
        entries = [
            (type_of(item).pk, item.pk, TimelineEntry.Kind.CREATED, None, text, now)
            for item, text in self.pending_created
        ] + [
            (
                type_of(item).pk,
                item.pk,
                TimelineEntry.Kind.ACTIVITY,
                activity.pk,
                "",
                activity.occurred_at,
            )
            for activity, items in self.pending_activities
            for item in items
        ]
        # An activity already on an item (the unique constraint) stays as it was.
        insert_ignoring_conflicts(
            TimelineEntry,
            ["content_type", "object_id", "kind", "activity", "text", "occurred_at"],
            entries,
        )
        for activity, items in self.pending_bindings:
            actions.do_bind_activity_to(activity, items)
        for result, message in self.pending_notes:
            result.notified = actions.notify_new_items(
                self.mailbox, result.created, message, users=self.notify_users
            )
        self.pending_new, self.pending_emails, self.pending_created = [], [], []
        self.pending_activities, self.pending_bindings, self.pending_notes = [], [], []

    def _once(self, key: str, make):
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    @property
    def pipeline(self) -> Pipeline:
        return self._once("pipeline", Pipeline.default)

    @property
    def deal_stage(self) -> Stage:
        return self._once("deal_stage", self.pipeline.first_stage)

    @property
    def smart_stage(self) -> Stage | None:
        return self._once("smart_stage", lambda: self.smart_type and self.smart_type.first_stage())

    @property
    def notify_users(self) -> list:
        return self._once("notify", lambda: list(self.mailbox.crm_notify.all()))

    @classmethod
    def build(
        cls, messages: list[Message], mailbox: Mailbox, responsible: Callable | None = None
    ) -> "_Context":
        """Read what the batch needs; the caller's transaction then holds the locks on
        its addresses (crm/locks.py), taken before anyone is looked up."""
        addresses = _addresses(messages)
        lock_addresses(addresses)
        ids = [m.pk for m in messages]
        activities = {a.message_id: a for a in Activity.objects.filter(message__in=ids)}
        deciders = _deciders(ids, mailbox)
        for message_id, activity in activities.items():
            # Decided by a mailbox that comes after this one: replace what it made.
            rule_of = activity.rule_mailbox_id
            lower = rule_of not in (None, mailbox.pk) and message_id not in deciders
            if lower and _supersede(activity, mailbox):
                activity.rule_mailbox_id = None
        context = cls(
            mailbox=mailbox,
            directory=Directory.lookup(addresses),
            sent=sent_by_us(ids, mailbox),
            responsible_for=responsible,
            decided_elsewhere=deciders,
        )
        if mailbox.crm_rule == CrmRuleKind.SMART:
            context.smart_type = actions.resolve_smart_type(mailbox.crm_smart_type)
            context.smart_type_missing = context.smart_type is None
        context.activities = activities
        context._read_open_targets()
        return context

    def _read_open_targets(self) -> None:
        contacts = {c.pk for c in self.directory.contacts.values()}
        companies = {c.company_id for c in self.directory.contacts.values() if c.company_id}
        if not contacts:
            return
        if self.mailbox.crm_rule == CrmRuleKind.SMART:
            if self.smart_type is None:
                return
            items = SmartItem.objects.open().filter(smart_type=self.smart_type)
        else:
            items = Deal.objects.open()
        items = items.filter(
            Q(contact__in=contacts) | Q(contact__isnull=True, company__in=companies)
        ).order_by("created_at", "pk")
        for item in items:
            if item.contact_id:
                self.open_by_contact.setdefault(item.contact_id, []).append(item)
            else:
                self.open_by_company.setdefault(item.company_id, []).append(item)

    def open_targets(self, contact: Contact) -> list:
        """The contact's open targets, newest first."""
        found = self.open_by_contact.get(_key(contact), []) + self.open_by_company.get(
            contact.company_id, []
        )
        # Items made in this batch (no pk yet) are the newest.
        return sorted(
            found, key=lambda i: (i.pk is None, i.created_at or _EPOCH, i.pk or 0), reverse=True
        )


def capture_message(
    message: Message, mailbox: Mailbox, *, responsible: Callable | None = None
) -> CaptureResult:
    """Capture one email (see the module's docstring); idempotent."""
    return capture_messages([message], mailbox, responsible=responsible)[message.pk]


def capture_messages(
    messages: Iterable[Message], mailbox: Mailbox, *, responsible: Callable | None = None
) -> dict[int, CaptureResult]:
    """Capture a batch of one mailbox's mail: senders resolved with one query per table.

    Each email in its own transaction (savepoint), so that one failure costs one email.
    """
    messages = list(messages)
    if not messages:
        return {}
    try:
        # The whole batch in one transaction: the common case, and the cheap one.
        with transaction.atomic():
            context = _Context.build(messages, mailbox, responsible)
            results = {message.pk: _capture(message, context) for message in messages}
            context.flush()
            return results
    except Exception:
        logger.warning("CRM capture of a batch failed; capturing its emails one by one")
    # Something failed: all of it was rolled back; now each email in a transaction of
    # its own, so that one broken email costs only itself.
    results: dict[int, CaptureResult] = {}
    for message in messages:
        try:
            with transaction.atomic():
                context = _Context.build([message], mailbox, responsible)
                results[message.pk] = _capture(message, context)
                context.flush()
        except Exception as exc:
            logger.exception("CRM capture of message %s failed", message.pk)
            results[message.pk] = CaptureResult(skipped=f"internal error: {exc!r}")
    return results


def _addresses(messages: list[Message]) -> list[str]:
    """Everyone a capture of these emails may look up or create an item for."""
    found = []
    for message in messages:
        found.append(message.from_address)
        found.extend(message.to_addresses)
        found.extend(message.cc_addresses)
    return found


def _capture(message: Message, ctx: _Context) -> CaptureResult:
    if message.status != Message.Status.PARSED:
        return CaptureResult(skipped=f"message is {message.status}")
    if reason := machine_mail_reason(message):
        # Answering or recording machine mail creates junk leads and mail loops.
        return CaptureResult(skipped=reason)
    if not message.from_address:
        return CaptureResult(skipped="no sender address")
    if message.pk in ctx.sent or ctx.directory.is_organisation(message.from_address):
        return _capture_outgoing(message, ctx)
    return _capture_incoming(message, ctx)


# ---------------------------------------------------------------- outgoing


def _capture_outgoing(message: Message, ctx: _Context) -> CaptureResult:
    result = CaptureResult(direction="out")
    recipients = external_recipients(message, ctx.directory)
    if not recipients and ctx.directory.is_organisation(message.from_address):
        result.skipped = "sent by the organisation to its own people: internal mail"
        return result
    targets: list[models.Model] = []
    for address in recipients:
        targets.extend(_items_of_person(address, ctx.directory, ctx.mailbox))
    targets.extend(_items_of_thread(message))
    targets = _unique(targets)
    if not targets:
        result.skipped = "sent by the organisation; none of its recipients is in the CRM"
        return result
    result.bound = ctx.bind(message, "out", targets)
    return result


def _items_of_thread(message: Message) -> list[models.Model]:
    """Items the email it answers (In-Reply-To, References) is bound to."""
    ids = [i for i in [message.in_reply_to, *message.references] if i]
    if not ids:
        return []
    found = []
    for activity in Activity.objects.filter(message__message_id__in=ids).prefetch_related(
        "entries"
    ):
        found.extend(actions.items_of(activity))
    return found


# ---------------------------------------------------------------- incoming


def _capture_incoming(message: Message, ctx: _Context) -> CaptureResult:
    if decider := ctx.decided_elsewhere.get(message.pk):
        return CaptureResult(skipped=f"decided by the CRM rule of {decider}, first in precedence")
    result = CaptureResult()
    mailbox, directory = ctx.mailbox, ctx.directory
    existing = ctx.activities.get(message.pk)
    if existing is not None and existing.rule_mailbox_id is None:
        # Bound before by outgoing mail or by hand: this mailbox's rule decided it now.
        Activity.objects.filter(pk=existing.pk).update(rule_mailbox=mailbox)
    sender = message.from_address
    contact = directory.contact(sender)
    lead = directory.lead(sender)
    if contact is None and lead is None:
        company = directory.company_by_domain(sender)
        joins = (
            company is not None
            and mailbox.crm_join_company_domain
            and mailbox.crm_rule != CrmRuleKind.NONE
        )
        if joins:
            manager = company.responsible if mailbox.crm_route_to_manager else None
            contact = ctx.new(
                Contact(
                    name=(message.from_name or sender)[:300],
                    company=company,
                    responsible=manager or company.responsible or ctx.responsible(message, None),
                    source_mailbox=mailbox,
                )
            )
            ctx.new_email(contact, sender)
            ctx.created(
                contact, f"Joined {company} by the mail domain, from an email to {mailbox.address}"
            )
            directory.remember_contact(sender, contact)
            result.created.append(contact)
        else:
            return _by_rule(message, ctx, result)
    targets: list[models.Model] = []
    if lead is not None:
        targets.append(lead)
    if contact is not None:
        target = _target_for_contact(message, contact, ctx, result)
        targets.extend([t for t in (target, contact, contact.company) if t is not None])
    newly = ctx.bind(message, "in", targets)
    result.bound = [t for t in newly if t not in result.created]
    ctx.notify(result, message)
    return result


def _target_for_contact(
    message: Message, contact: Contact, ctx: _Context, result: CaptureResult
) -> models.Model | None:
    """The open deal or smart item this known person's email belongs on, made if need be."""
    mailbox = ctx.mailbox
    manager_id = contact.responsible_id if mailbox.crm_route_to_manager else None
    if mailbox.crm_rule == CrmRuleKind.SMART and ctx.smart_type is None:
        return None
    for candidate in ctx.open_targets(contact):
        if manager_id is None or candidate.responsible_id == manager_id:
            return candidate
    if mailbox.crm_rule not in (CrmRuleKind.CONTACT_DEAL, CrmRuleKind.SMART):
        return None
    responsible = contact.responsible if manager_id else ctx.responsible(message, contact)
    made = _create_target(message, contact, ctx, responsible=responsible)
    ctx.open_by_contact.setdefault(_key(contact), []).append(made)
    result.created.append(made)
    return made


def _create_target(message: Message, contact: Contact, ctx: _Context, *, responsible):
    title = (message.subject or f"Email from {message.from_address}")[:500]
    if ctx.mailbox.crm_rule == CrmRuleKind.SMART:
        made = SmartItem(
            smart_type=ctx.smart_type, title=title, stage=ctx.smart_stage, contact=contact,
            company=contact.company, responsible=responsible, source_mailbox=ctx.mailbox,
        )  # fmt: skip
    else:
        made = Deal(
            title=title, pipeline=ctx.pipeline, stage=ctx.deal_stage, contact=contact,
            company=contact.company, responsible=responsible, source_mailbox=ctx.mailbox,
        )  # fmt: skip
    ctx.new(made)
    ctx.created(made, f"Created from an email to {ctx.mailbox.address}")
    return made


def _by_rule(message: Message, ctx: _Context, result: CaptureResult) -> CaptureResult:
    """An unknown sender: what the mailbox's rule says."""
    mailbox = ctx.mailbox
    rule = mailbox.crm_rule
    if rule == CrmRuleKind.NONE:
        result.skipped = "the mailbox's CRM rule is none"
        return result
    if rule == CrmRuleKind.SMART and ctx.smart_type is None:
        result.skipped = (
            f"the mailbox's smart type {mailbox.crm_smart_type!r} does not exist: create it or "
            "change the mailbox's CRM rule"
        )
        logger.warning("message %s: %s", message.pk, result.skipped)
        return result
    responsible = ctx.responsible(message)
    if rule == CrmRuleKind.LEAD:
        lead = ctx.new(
            Lead(
                title=(message.subject or f"Email from {message.from_address}")[:500],
                name=message.from_name[:300],
                email=normalise_email(message.from_address),
                responsible=responsible,
                source_mailbox=mailbox,
            )
        )
        ctx.created(lead, f"Created from an email to {mailbox.address}")
        ctx.directory.remember_lead(message.from_address, lead)
        result.created.append(lead)
    else:
        contact = ctx.new(
            Contact(
                name=(message.from_name or message.from_address)[:300],
                responsible=responsible,
                source_mailbox=mailbox,
            )
        )
        ctx.new_email(contact, message.from_address)
        ctx.created(contact, f"Created from an email to {mailbox.address}")
        ctx.directory.remember_contact(message.from_address, contact)
        target = _create_target(message, contact, ctx, responsible=responsible)
        ctx.open_by_contact.setdefault(_key(contact), []).append(target)
        result.created.extend([target, contact])
    ctx.bind(message, "in", result.created)
    ctx.notify(result, message)
    return result


# ---------------------------------------------------------------- precedence


_DECIDER_FIELDS = (
    *("message_id", "mailbox_id", "mailbox__address"),
    *("mailbox__kind", "mailbox__crm_precedence"),
)


def _deciders(message_ids: list[int], mailbox: Mailbox) -> dict[int, str]:
    """{message id: address} of the emails whose CRM outcome another mailbox decides:
    of the mailboxes holding them outside spam with a rule other than none (this one
    always counts), the first in precedence (organisation.precedence_key)."""
    from .organisation import precedence_key

    rows = (
        MessageCopy.objects.filter(message_id__in=message_ids)
        .exclude(folder__role=Folder.Role.SPAM)
        .exclude(mailbox=mailbox)
        .exclude(mailbox__crm_rule=CrmRuleKind.NONE)
        .values_list(*_DECIDER_FIELDS)
        .distinct()
    )
    ours = precedence_key(mailbox)
    if mailbox.crm_rule == CrmRuleKind.NONE:
        ours = (float("inf"), 0, 0)  # any mailbox with a rule decides before one without
    best: dict[int, tuple] = {}
    for message_id, mailbox_id, address, kind, number in rows:
        other = Mailbox(pk=mailbox_id, kind=kind, crm_precedence=number)
        key = precedence_key(other)
        if key < ours and (message_id not in best or key < best[message_id][0]):
            best[message_id] = (key, address)
    return {message_id: address for message_id, (_key, address) in best.items()}


def _supersede(activity: Activity, mailbox: Mailbox) -> bool:
    """Remove what a lower mailbox's rule made from this email alone, so that `mailbox`'s
    rule decides instead; False (nothing removed) when any of it was worked on since."""
    from .organisation import precedence_key

    lower = Mailbox.objects.filter(pk=activity.rule_mailbox_id).first()
    if lower is not None and precedence_key(lower) < precedence_key(mailbox):
        return False  # that mailbox comes first after all (its copy is in spam now, say)
    made = []
    made_since = activity.created_at - timedelta(minutes=1)
    for item in actions.items_of(activity):
        source = getattr(item, "source_mailbox_id", None)
        created = getattr(item, "created_at", None)
        # Made with the activity (in the same flush, a moment before it), by that rule.
        if source != activity.rule_mailbox_id or created is None or created < made_since:
            continue  # there before this email: a known person's item, kept
        if isinstance(item, Lead) and item.status != Lead.Status.NEW:
            return False
        entries = TimelineEntry.objects.filter(
            content_type=ContentType.objects.get_for_model(item), object_id=item.pk
        )
        if entries.exclude(kind=TimelineEntry.Kind.CREATED).exclude(activity=activity).exists():
            logger.info(
                "message %s: the rule of %s decides, but %s was worked on: kept",
                activity.message_id, mailbox.address, item,
            )  # fmt: skip
            return False
        made.append((item, entries))
    if not made:
        return False
    # Deals and smart items before the contacts they point at.
    made.sort(key=lambda pair: isinstance(pair[0], Contact))
    for item, entries in made:
        entries.delete()
        type(item).objects.filter(pk=item.pk).delete()
    Activity.objects.filter(pk=activity.pk).update(rule_mailbox=None)
    logger.info(
        "message %s: the rule of %s decides (first in precedence); replaced %s",
        activity.message_id, mailbox.address, ", ".join(str(i) for i, _ in made),
    )  # fmt: skip
    return True


# ---------------------------------------------------------------- helpers


def _items_of_person(address: str, directory: Directory, mailbox: Mailbox | None = None):
    """A person's items: their open lead, contact, company and open deals or smart items."""
    found: list[models.Model] = []
    if (lead := directory.lead(address)) is not None:
        found.append(lead)
    if (contact := directory.contact(address)) is not None:
        found.append(contact)
        if contact.company is not None:
            found.append(contact.company)
        found.extend(Deal.objects.open().filter(contact=contact).order_by("-created_at")[:1])
        if mailbox is not None and mailbox.crm_rule == CrmRuleKind.SMART:
            smart = SmartItem.objects.open().filter(
                contact=contact, smart_type__slug=mailbox.crm_smart_type
            )
            found.extend(smart.order_by("-created_at")[:1])
    return found


def _key(item: models.Model) -> int:
    """The pk, or for an item made in this batch and not saved yet, its identity."""
    return item.pk if item.pk is not None else -id(item)


def _unique(items: list[models.Model]) -> list[models.Model]:
    return list({(type(i), _key(i)): i for i in items}.values())


def known_items(address: str) -> list[models.Model]:
    """CRM items that own mail to or from this address: its open lead, its contact with
    the contact's company and newest open deal."""
    return _items_of_person(address, Directory.lookup([address]))
