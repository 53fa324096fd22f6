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

from django.db.models import Count
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
    """What a run with these rules (default: every mailbox's) would remove now."""
    rules = all_rules() if rules is None else rules
    plan = Plan()
    going: dict[int, int] = defaultdict(int)  # message -> copies planned to go
    left: dict[int, int] = {}  # message -> index of the mailbox plan it leaves with
    for index, rule in enumerate(rules):
        mailbox_plan = MailboxPlan(rule)
        plan.mailboxes.append(mailbox_plan)
        rows = list(expired_copies(rule).values_list("message_id", flat=True))
        mailbox_plan.copies = len(rows)
        for message_id in rows:
            going[message_id] += 1
        touched = sorted(set(rows))
        for part in chunks(touched):
            held = MessageCopy.objects.filter(message_id__in=part).values("message_id")
            for row in held.annotate(n=Count("pk")):
                if row["n"] <= going[row["message_id"]] and row["message_id"] not in left:
                    left[row["message_id"]] = index
                    mailbox_plan.messages += 1
    _freed_bytes(plan, left)
    return plan


def _freed_bytes(plan: Plan, left: dict[int, int]) -> None:
    """Attribute freed raw bytes and blobs to the mailbox whose email was the last to
    use them (the run frees them in that mailbox's batch)."""
    raw_owner: dict[str, int] = {}
    for part in chunks(sorted(left)):
        for pk, sha in Message.objects.filter(pk__in=part).values_list("pk", "raw_sha256"):
            raw_owner[sha] = max(raw_owner.get(sha, -1), left[pk])
    shas = sorted(raw_owner)
    for part in chunks(shas):
        for pk, sha in Message.objects.filter(raw_sha256__in=part).values_list("pk", "raw_sha256"):
            if pk not in left:
                raw_owner.pop(sha, None)  # a kept email uses the same bytes
    for part in chunks(sorted(raw_owner)):
        sizes = RawMessage.objects.filter(sha256__in=part).values_list(
            "sha256", Coalesce("size", Length("data"))
        )
        for sha, size in sizes:
            plan.mailboxes[raw_owner[sha]].raw_bytes += size or 0

    blob_owner: dict[str, int] = {}
    for part in chunks(sorted(left)):
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
