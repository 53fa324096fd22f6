"""The dry run: what retention would remove now, per mailbox, with counts and bytes.

It walks the mailboxes in the order a run does and simulates it: an email leaves
Postroom when the last of its copies goes, and raw bytes or an attachment blob are
freed when the last email that uses them goes (content addressing: bytes shared with
kept mail stay). So the bytes it announces are what the run frees, and a run counts
them the same way, batch by batch.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from django.db import connection, transaction
from django.db.models import Count, Exists, OuterRef, Subquery
from django.db.models.functions import Coalesce, Length

from postroom.mail.models import Attachment, AttachmentBlob, Message, MessageCopy, RawMessage
from postroom.mailboxes.models import Mailbox

from .models import MailboxRetention
from .rules import Rule, expired_copies, organisation_days, rule_for

CHUNK = 1000


@dataclass
class MailboxPlan:
    rule: Rule
    copies: int = 0  # copies removed from the mailbox
    messages: int = 0  # emails that leave Postroom with them (no other mailbox holds them)
    raw_bytes: int = 0  # raw mail freed (on disk with the file store, rows with "db")
    attachment_bytes: int = 0  # attachment blobs freed
    counted: bool = True  # False: a saved plan older than the mailbox (saved_plan.py)

    @property
    def mailbox(self) -> Mailbox:
        return self.rule.mailbox

    @property
    def bytes(self) -> int:
        return self.raw_bytes + self.attachment_bytes


@dataclass
class Plan:
    mailboxes: list[MailboxPlan] = field(default_factory=list)

    @property
    def copies(self) -> int:
        return sum(p.copies for p in self.mailboxes)

    @property
    def messages(self) -> int:
        return sum(p.messages for p in self.mailboxes)

    @property
    def raw_bytes(self) -> int:
        return sum(p.raw_bytes for p in self.mailboxes)

    @property
    def attachment_bytes(self) -> int:
        return sum(p.attachment_bytes for p in self.mailboxes)

    @property
    def bytes(self) -> int:
        return self.raw_bytes + self.attachment_bytes


def chunks(items: list, size: int = CHUNK) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def all_rules(mailboxes: Iterable[Mailbox] | None = None) -> list[Rule]:
    """Every mailbox's rule, in the order a run applies them (by id)."""
    default = organisation_days()
    chosen = sorted(Mailbox.objects.all() if mailboxes is None else mailboxes, key=lambda m: m.pk)
    # The mailboxes' own choices in one query, not one per mailbox.
    own = dict(
        MailboxRetention.objects.filter(mailbox__in=[m.pk for m in chosen]).values_list(
            "mailbox_id", "days"
        )
    )
    return [rule_for(m, default=default, own=own) for m in chosen]


def dry_run(rules: list[Rule] | None = None) -> Plan:
    """What a run with these rules (default: every mailbox's) would remove now.

    One query per mailbox brings each expiring copy with what the plan needs of its
    email (how many copies it has, its raw bytes' size and whether another email
    shares them, whether it has attachments): at a million messages the former chunks
    of 1,000 ids, five queries each, took 40 s of round trips for 300,000 copies.
    Only the rare shared bytes and the attachments are looked up afterwards.
    """
    rules = all_rules() if rules is None else rules
    with transaction.atomic():
        if connection.vendor == "postgresql":
            # Each mailbox's query is costed high enough for JIT compiling, which took
            # 40 ms of its 300 (bench/million.py): not worth it for 4,000 index reads.
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL jit = off")
        return _dry_run(rules)


def _dry_run(rules: list[Rule]) -> Plan:
    plan = Plan()
    going: dict[int, int] = defaultdict(int)  # message -> copies planned to go
    left: dict[int, int] = {}  # message -> index of the mailbox plan it leaves with
    facts: dict[int, _Email] = {}
    for index, rule in enumerate(rules):
        mailbox_plan = MailboxPlan(rule)
        plan.mailboxes.append(mailbox_plan)
        for message_id, held, sha, size, shared, with_files in _expiring(rule):
            mailbox_plan.copies += 1
            going[message_id] += 1
            facts[message_id] = _Email(sha, size or 0, shared, with_files)
            if held <= going[message_id] and message_id not in left:
                left[message_id] = index
                mailbox_plan.messages += 1
    _freed_bytes(plan, left, facts)
    return plan


@dataclass(frozen=True)
class _Email:
    raw_sha256: str
    raw_size: int  # of its raw bytes as stored
    raw_shared: bool  # another email has the same raw bytes
    with_files: bool  # it has attachments


def _expiring(rule: Rule):
    """The rule's expiring copies as (message, its copies, raw sha, raw size, raw
    shared, has attachments), along the (mailbox, internal_date) index."""
    email = OuterRef("message_id")
    sha = OuterRef("message__raw_sha256")
    copies = (
        MessageCopy.objects.filter(message_id=email)
        .order_by()
        .values("message_id")
        .annotate(n=Count("pk"))
        .values("n")
    )
    size = RawMessage.objects.filter(sha256=sha).values(stored=Coalesce("size", Length("data")))
    return (
        expired_copies(rule)
        .annotate(
            held=Subquery(copies),
            raw_size=Subquery(size[:1]),
            raw_shared=Exists(Message.objects.filter(raw_sha256=sha).exclude(pk=email)),
            with_files=Exists(Attachment.objects.filter(message_id=email)),
        )
        .values_list(
            "message_id", "held", "message__raw_sha256", "raw_size", "raw_shared", "with_files"
        )
        .iterator(chunk_size=5000)
    )


def _freed_bytes(plan: Plan, left: dict[int, int], facts: dict[int, _Email]) -> None:
    """Attribute freed raw bytes and blobs to the mailbox whose email was the last to
    use them (the run frees them in that mailbox's batch)."""
    raw_owner: dict[str, int] = {}
    raw_size: dict[str, int] = {}
    shared: set[str] = set()
    for pk, index in left.items():
        email = facts[pk]
        raw_owner[email.raw_sha256] = max(raw_owner.get(email.raw_sha256, -1), index)
        raw_size[email.raw_sha256] = email.raw_size
        if email.raw_shared:
            shared.add(email.raw_sha256)
    for part in chunks(sorted(shared)):
        for pk, sha in Message.objects.filter(raw_sha256__in=part).values_list("pk", "raw_sha256"):
            if pk not in left:
                raw_owner.pop(sha, None)  # a kept email uses the same bytes
    for sha, index in raw_owner.items():
        plan.mailboxes[index].raw_bytes += raw_size[sha]

    blob_owner: dict[str, int] = {}
    with_files = sorted(pk for pk in left if facts[pk].with_files)
    for part in chunks(with_files):
        for message_id, sha in Attachment.objects.filter(message_id__in=part).values_list(
            "message_id", "sha256"
        ):
            blob_owner[sha] = max(blob_owner.get(sha, -1), left[message_id])
    for part in chunks(sorted(blob_owner)):
        users = Attachment.objects.filter(sha256__in=part).values_list("message_id", "sha256")
        for message_id, sha in users:
            if message_id not in left:
                blob_owner.pop(sha, None)
    for part in chunks(sorted(blob_owner)):
        sizes = AttachmentBlob.objects.filter(sha256__in=part).values_list("sha256", Length("data"))
        for sha, size in sizes:
            plan.mailboxes[blob_owner[sha]].attachment_bytes += size or 0
