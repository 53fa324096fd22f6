"""Writes to the Outbox: every email Postroom sends is queued here.

`do_send_email` writes the email and its delivery job in one transaction: the email
exists if and only if the action that wrote it committed, and a job will send it.
"""

import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import timedelta
from email import policy
from email.parser import BytesHeaderParser
from email.utils import getaddresses

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from postroom.mail import rawstore
from postroom.mail.bulk import insert_ignoring_conflicts
from postroom.mail.models import AttachmentBlob, Conversation, Message
from postroom.mail.workflow import newer_customer_email
from postroom.mailboxes.access import mailboxes_for
from postroom.mailboxes.models import Mailbox, MailboxGrant

from . import compose, placeholders, quota, richtext
from .jobs import deliver_outbox
from .models import Draft, MessageTemplate, OutboundSettings, OutboxMessage, Signature

Kind = OutboxMessage.Kind
_HEADERS = BytesHeaderParser(policy=policy.default)


class OutboundError(Exception):
    """The email cannot be sent as asked; the message says why, for the user."""


class QuotaReached(OutboundError):
    """The organisation's monthly quota is used up (postroom.outbound.quota)."""


class NewerEmailError(OutboundError):
    """A newer email from the customer arrived while the reply was written: the writer
    reads it first, then sends again to confirm."""

    def __init__(self, newer: Message) -> None:
        self.newer = newer
        who = newer.from_name or newer.from_address
        super().__init__(
            f"{who} wrote again (“{newer.subject or '(no subject)'}”) since you opened this "
            "form. Read it first; Send again sends your email as it is."
        )


@dataclass(frozen=True)
class Composition:
    """What the sender wrote. Addresses as header values ("Anna <anna@x.test>").

    `body` is plain text; `html`, when given, is what the editor wrote and wins: it is
    cleaned and the text part derived from it. `attachments` are AttachmentBlob refs
    ({"sha256", "filename", "content_type", "size"}).
    """

    to: list[str]
    subject: str
    body: str = ""
    cc: list[str] = field(default_factory=list)
    html: str = ""
    attachments: list[dict] = field(default_factory=list)


def can_send_from(user, mailbox: Mailbox) -> bool:
    """Reply level or higher on a shared mailbox; a personal one is its owner's alone."""
    return mailboxes_for(user, MailboxGrant.Level.REPLY).filter(pk=mailbox.pk).exists()


def sender_name(user, mailbox: Mailbox) -> str:
    """The From display name: who wrote it, and from which shared address."""
    return f"{user.get_full_name() or user.username} at {mailbox.name}"


def new_idempotency_key() -> str:
    return secrets.token_urlsafe(24)


def original_of(message: Message) -> compose.Original:
    """What a reply or forward needs from a stored message; Reply-To is read from the
    raw headers because the parsed message does not keep it."""
    try:
        headers = _HEADERS.parsebytes(rawstore.get(message.raw_sha256))
        values = [str(value) for value in headers.get_all("reply-to", [])]
    except Exception:  # noqa: BLE001 - a missing or unreadable raw only loses Reply-To
        values = []
    reply_to = [compose.format_address(*pair) for pair in getaddresses(values) if "@" in pair[1]]
    return compose.Original(
        message_id=message.message_id,
        references=list(message.references or []),
        subject=message.subject,
        from_name=message.from_name,
        from_address=message.from_address,
        reply_to=reply_to,
        to=list(message.to_addresses or []),
        cc=list(message.cc_addresses or []),
        date=message.date or message.received_at,
        text=message.text_body,
        html=message.html_body,
    )


def draft_for(kind: str, mailbox: Mailbox, user, parent: Message | None = None) -> compose.Draft:
    """The form's starting point: recipients, subject and a quote of the parent."""
    if parent is None or kind == Kind.NEW:
        return compose.Draft()
    original = original_of(parent)
    if kind == Kind.FORWARD:
        return compose.Draft(
            subject=compose.forward_subject(original.subject),
            body=compose.forwarded(original, _local(original.date)),
        )
    ours = [mailbox.address, *([user.email] if user.email else [])]
    to, cc = compose.reply_recipients(original, ours, reply_all=kind == Kind.REPLY_ALL)
    return compose.Draft(
        to=to,
        cc=cc,
        subject=compose.reply_subject(original.subject),
        body=compose.quote(original, _local(original.date)),
    )


def _local(when):
    return timezone.localtime(when) if when else None


@transaction.atomic
def do_send_email(
    mailbox: Mailbox,
    composition: Composition,
    *,
    acting_user,
    kind: str = Kind.NEW,
    parent: Message | None = None,
    conversation: Conversation | None = None,
    idempotency_key: str = "",
    undo_seconds: float | None = None,
    draft: Draft | None = None,
    seen_message_id: int | None = None,
    track: bool = True,
) -> OutboxMessage:
    """Queue an email from the mailbox; sent by a job once this transaction commits.

    The same idempotency key returns the email already queued (a double-clicked Send).
    It waits `undo_seconds` (POSTROOM_UNDO_SEND_SECONDS unless given; machine mail
    passes 0) before its first attempt, during which do_undo_send takes it back. The
    draft it was written in, if any, is deleted with the same commit. `track` False
    asks that its opens and clicks are not tracked (the tracking app reads it).
    """
    key = idempotency_key or new_idempotency_key()
    if existing := OutboxMessage.objects.filter(idempotency_key=key).first():
        if existing.author_id != acting_user.pk or existing.mailbox_id != mailbox.pk:
            raise OutboundError("this form was already used; open it again")
        return existing
    if not can_send_from(acting_user, mailbox):
        raise OutboundError(f"you may not send from {mailbox.address}")
    # Collision detection: the customer wrote again since the writer's form was opened.
    if conversation is not None and seen_message_id is not None:
        newer = newer_customer_email(conversation, seen_message_id)
        if newer is not None:
            raise NewerEmailError(newer)
    if not (mailbox.smtp_host and mailbox.smtp_port):
        raise OutboundError(f"{mailbox.address} has no SMTP server set up to send from")
    if why := quota.refusal():
        raise QuotaReached(why)
    recipients = list(dict.fromkeys(compose.bare([*composition.to, *composition.cc])))
    if not recipients:
        raise OutboundError("add at least one recipient")

    in_reply_to, references = "", []
    if parent is not None and kind in (Kind.REPLY, Kind.REPLY_ALL, Kind.FORWARD):
        original = original_of(parent)
        references = compose.references_for(original)
        # A forward keeps References so that it stays in the conversation, but it
        # answers nobody: no In-Reply-To.
        if kind != Kind.FORWARD:
            in_reply_to = original.message_id
    # "{...}" in the subject answered (a customer's "Order {A7}") is theirs, not ours.
    literal = frozenset(placeholders.found_in(parent.subject if parent is not None else ""))
    subject, text, cleaned = _resolved(
        mailbox, conversation, composition, literal, user=acting_user
    )
    files = _attachment_files(composition.attachments)
    message_id = compose.new_message_id(mailbox.address)
    now = timezone.now()
    raw = compose.build_email(
        from_name=sender_name(acting_user, mailbox),
        from_address=mailbox.address,
        to=composition.to,
        cc=composition.cc,
        subject=subject,
        body=text,
        message_id=message_id,
        date=now,
        in_reply_to=in_reply_to,
        references=references,
        html_body=cleaned,
        attachments=files,
    )
    delay = _config("UNDO_SEND_SECONDS") if undo_seconds is None else undo_seconds
    not_before = now + timedelta(seconds=delay) if delay > 0 else None
    kept = {
        "to": composition.to,
        "cc": composition.cc,
        "subject": composition.subject,
        "html": composition.html or richtext.text_to_html(composition.body),
        "attachments": composition.attachments,
        "track": track,
    }
    try:
        with transaction.atomic():
            outbox = OutboxMessage.objects.create(
                mailbox=mailbox,
                author=acting_user,
                kind=kind,
                conversation=conversation,
                parent=parent,
                message_id=message_id,
                subject=subject,
                sender=mailbox.address,
                recipients=recipients,
                raw=raw,
                idempotency_key=key,
                not_before=not_before,
                composition=kept,
            )
    except IntegrityError:
        # The same form submitted twice at the same moment: the other request won.
        return OutboxMessage.objects.get(idempotency_key=key, author=acting_user)
    if draft is not None and draft.pk:
        Draft.objects.filter(pk=draft.pk, author=acting_user).delete()
    # The database queue writes the job in this transaction; Celery sends it on commit.
    task = deliver_outbox.using(run_after=not_before) if not_before else deliver_outbox
    task.enqueue(outbox.pk)
    return outbox


def _config(name: str):
    return settings.POSTROOM[name]


def _resolved(
    mailbox: Mailbox,
    conversation: Conversation | None,
    composition: Composition,
    literal: frozenset[str] = frozenset(),
    *,
    user,
) -> tuple[str, str, str]:
    """(subject, text, cleaned HTML or "") with placeholders filled in; raises
    OutboundError naming unknown placeholders, so that nothing goes out with them."""
    cleaned = richtext.clean_html(composition.html) if composition.html else ""
    try:
        placeholders.check(composition.subject, literal=literal)
        placeholders.check(cleaned or composition.body)
        values = placeholders.values_for(mailbox, conversation, user=user)
        subject = placeholders.render(composition.subject, values, is_html=False, literal=literal)
        if cleaned:
            cleaned = placeholders.render(cleaned, values, is_html=True)
            return subject, richtext.html_to_text(cleaned), cleaned
        return subject, placeholders.render(composition.body, values, is_html=False), ""
    except placeholders.PlaceholderError as exc:
        raise OutboundError(str(exc)) from exc


def _attachment_files(refs: list[dict]) -> list[tuple[str, str, bytes]]:
    """(filename, content type, bytes) of each ref; the total is bounded."""
    limit = _config("MAX_ATTACHMENTS_SIZE")
    if sum(int(ref.get("size") or 0) for ref in refs) > limit:
        raise OutboundError(f"attachments may add up to {_megabytes(limit)} at most")
    shas = [ref["sha256"] for ref in refs]
    blobs = dict(AttachmentBlob.objects.filter(sha256__in=shas).values_list("sha256", "data"))
    files = []
    for ref in refs:
        data = blobs.get(ref["sha256"])
        if data is None:
            raise OutboundError(f"the attachment {ref.get('filename')!r} is gone; attach it again")
        name = ref.get("filename") or "attachment"
        files.append((name, ref.get("content_type") or "", bytes(data)))
    return files


def _megabytes(size: int) -> str:
    return f"{size / 1024 / 1024:g} MB"


# ----------------------------------------------------------------- undo send


class UndoError(OutboundError):
    """Too late: the email's first attempt has started (or it is gone)."""


@transaction.atomic
def do_undo_send(outbox_id: int, *, acting_user) -> Draft:
    """Take a just-sent email back before its first attempt: it becomes a draft again.

    Serialised with the job's claim by the row lock (an IMMEDIATE transaction on
    SQLite): either the claim has started the attempt and this refuses, or the row is
    gone and the job finds nothing to send.
    """
    outbox = (
        OutboxMessage.objects.select_for_update()
        .filter(pk=outbox_id, author=acting_user)
        .defer("raw")
        .first()
    )
    if outbox is None:
        raise UndoError("there is no such email of yours to take back")
    if outbox.status != OutboxMessage.Status.QUEUED or outbox.attempts:
        raise UndoError("too late to undo: the email is on its way")
    draft = draft_from(outbox, acting_user)
    outbox.delete()
    return draft


def draft_from(outbox: OutboxMessage, author) -> Draft:
    """A draft of `author` holding an Outbox email exactly as it was written (recipients,
    subject, text, attachments): what Undo and a failed email's Edit as draft give back."""
    kept = outbox.composition or {}
    return Draft.objects.create(
        author=author,
        mailbox_id=outbox.mailbox_id,
        kind=outbox.kind,
        conversation_id=outbox.conversation_id,
        parent_id=outbox.parent_id,
        to=", ".join(kept.get("to", [])),
        cc=", ".join(kept.get("cc", [])),
        subject=kept.get("subject", outbox.subject),
        html=kept.get("html", ""),
        attachments=kept.get("attachments", []),
    )


# ----------------------------------------------------------------- drafts


class AttachmentTooBig(OutboundError):
    pass


def store_upload(filename: str, content_type: str, data: bytes) -> dict:
    """An uploaded file stored once by SHA-256 (AttachmentBlob); its ref for a draft."""
    sha = hashlib.sha256(data).hexdigest()
    insert_ignoring_conflicts(AttachmentBlob, ["sha256", "data"], [(sha, data)])
    return {
        "sha256": sha,
        "filename": (filename or "attachment").replace("\r", "").replace("\n", "")[:255],
        "content_type": (content_type or "application/octet-stream")[:255],
        "size": len(data),
    }


def attachments_of(message: Message | None) -> list[dict]:
    """Refs to a message's files (not its inline images): what a forward keeps."""
    if message is None:
        return []
    return [
        {
            "sha256": a.sha256,
            "filename": a.filename,
            "content_type": a.content_type,
            "size": a.size,
        }
        for a in message.attachments.filter(is_inline=False).order_by("position")
    ]


@transaction.atomic
def do_save_draft(
    draft: Draft | None,
    *,
    acting_user,
    mailbox: Mailbox,
    kind: str,
    conversation: Conversation | None = None,
    parent: Message | None = None,
    to: str = "",
    cc: str = "",
    subject: str = "",
    html_body: str = "",
    keep: list[str] | None = None,
    offered: list[dict] = (),
    uploads: list[dict] = (),
) -> Draft:
    """Save what the form holds now; a new draft when `draft` is None.

    `keep` are the SHA-256s of attachments the sender left ticked: only those the draft
    had or that were `offered` (the forwarded email's) count, so a crafted form cannot
    attach another mailbox's file. `uploads` are refs from store_upload.
    """
    if draft is None:
        draft = Draft(author=acting_user, mailbox=mailbox, kind=kind)
        draft.conversation, draft.parent = conversation, parent
    elif draft.author_id != acting_user.pk or draft.mailbox_id != mailbox.pk:
        raise OutboundError("this draft is not yours")
    known = {ref["sha256"]: ref for ref in [*offered, *draft.attachments]}
    attachments = list(draft.attachments) if keep is None else []
    if keep is not None:
        attachments = [known[sha] for sha in dict.fromkeys(keep) if sha in known]
    attachments += [u for u in uploads if u["sha256"] not in {a["sha256"] for a in attachments}]
    limit = _config("MAX_ATTACHMENTS_SIZE")
    if sum(int(a.get("size") or 0) for a in attachments) > limit:
        raise AttachmentTooBig(f"attachments may add up to {_megabytes(limit)} at most")
    draft.to, draft.cc, draft.subject = to[:10000], cc[:10000], subject[:998]
    draft.html = richtext.clean_html(html_body)
    draft.attachments = attachments
    draft.save()
    return draft


def do_discard_draft(draft: Draft, *, acting_user) -> None:
    Draft.objects.filter(pk=draft.pk, author=acting_user).delete()


def find_draft(user, mailbox: Mailbox, kind: str, conversation: Conversation | None):
    """The sender's latest draft of this kind here: what reopening the form restores."""
    return Draft.objects.filter(
        author=user, mailbox=mailbox, kind=kind, conversation=conversation
    ).first()


def signature_html(user, mailbox: Mailbox) -> str:
    """The author's own signature, then the mailbox's, as HTML; "" when neither."""
    own = Signature.objects.filter(user=user).values_list("html", flat=True).first() or ""
    team = Signature.objects.filter(mailbox=mailbox).values_list("html", flat=True).first() or ""
    parts = [part for part in (own, team) if part.strip()]
    # "-- " is the signature separator mail clients know (RFC 3676 4.3).
    return "<div>-- </div>" + "".join(parts) if parts else ""


def starting_html(kind: str, mailbox: Mailbox, user, parent: Message | None) -> str:
    """The editor's content for a new form: room to write, the signature, then the
    quote (a reply) or the forwarded email, as a blockquote."""
    draft = draft_for(kind, mailbox, user, parent)
    signature = signature_html(user, mailbox)
    head = "<div><br></div>" + (f"<div><br></div>{signature}" if signature else "")
    if not draft.body.strip():
        return head
    return head + "<div><br></div>" + _quote_html(draft.body)


def _quote_html(body: str) -> str:
    """The compose module's text quote or forward block as editor HTML."""
    lines = body.strip("\n").split("\n")
    if lines and not lines[0].startswith(">") and any(line.startswith(">") for line in lines):
        # A reply: "On ..., X wrote:" then '> ' lines.
        return richtext.text_to_html("\n".join(lines[:1])) + richtext.text_to_html(
            "\n".join(lines[1:])
        )
    # A forward: the header block and the original, quoted as a whole (its own quoted
    # lines one level deeper), line by line as in a reply's quote.
    return richtext.text_to_html("\n".join(f"> {line}" for line in lines))


# ----------------------------------------------------------------- signatures, templates


def can_manage(user, mailbox: Mailbox) -> bool:
    return mailboxes_for(user, MailboxGrant.Level.MANAGE).filter(pk=mailbox.pk).exists()


def _checked_html(value: str) -> str:
    cleaned = richtext.clean_html(value)
    try:
        placeholders.check(cleaned)
    except placeholders.PlaceholderError as exc:
        raise OutboundError(str(exc)) from exc
    return cleaned


@transaction.atomic
def do_save_signature(*, html_body: str, acting_user, mailbox: Mailbox | None = None) -> Signature:
    """Set the mailbox's signature (its managers) or, without a mailbox, the user's own."""
    if mailbox is not None and not can_manage(acting_user, mailbox):
        raise OutboundError(f"only managers of {mailbox.address} may change its signature")
    cleaned = _checked_html(html_body)
    owner = {"mailbox": mailbox} if mailbox is not None else {"user": acting_user}
    signature, _ = Signature.objects.update_or_create(**owner, defaults={"html": cleaned})
    return signature


@transaction.atomic
def do_save_template(
    template: MessageTemplate | None,
    *,
    mailbox: Mailbox,
    name: str,
    subject: str,
    html_body: str,
    acting_user,
) -> MessageTemplate:
    if not can_manage(acting_user, mailbox):
        raise OutboundError(f"only managers of {mailbox.address} may change its templates")
    name = name.strip()
    if not name:
        raise OutboundError("a template needs a name")
    cleaned = _checked_html(html_body)
    try:
        placeholders.check(subject)
    except placeholders.PlaceholderError as exc:
        raise OutboundError(str(exc)) from exc
    clash = MessageTemplate.objects.filter(mailbox=mailbox, name=name)
    if template is not None:
        clash = clash.exclude(pk=template.pk)
    if clash.exists():
        raise OutboundError(f"{mailbox.address} has a template named {name!r} already")
    template = template or MessageTemplate(mailbox=mailbox, created_by=acting_user)
    template.name, template.subject, template.html = name[:200], subject[:998], cleaned
    template.save()
    return template


def do_delete_template(template: MessageTemplate, *, acting_user) -> None:
    if not can_manage(acting_user, template.mailbox):
        raise OutboundError(f"only managers of {template.mailbox.address} may delete templates")
    template.delete()


def apply_template(draft_html: str, subject: str, template: MessageTemplate) -> tuple[str, str]:
    """(html, subject) with the template's text put first and its subject used when the
    email has none yet."""
    return template.html + draft_html, subject or template.subject


def do_set_save_to_sent(mailbox: Mailbox, save_to_sent: bool) -> OutboundSettings:
    """Whether sent mail is appended to the mailbox's Sent folder (off for providers
    whose SMTP server files it there itself)."""
    found, _ = OutboundSettings.objects.update_or_create(
        mailbox=mailbox, defaults={"save_to_sent": save_to_sent}
    )
    return found
