"""Delivering the Outbox: each email sent once, retried with back-off, then saved.

Sent once, as far as SMTP allows:

1. The OutboxMessage (raw bytes, Message-ID fixed) is written in the transaction of
   the action that caused it, with its delivery job.
2. An attempt first commits status `sending` and the attempt count (`_claim`), and
   only then talks SMTP.
3. Right after the server's 250, one short transaction marks it `sent`.
4. A message found in `sending` whose attempt is older than SEND_STALE_AFTER (its worker
   died), or whose connection broke after the data went out, is `delivery_unknown`:
   before it is sent again, the mailbox's Sent folder is searched for its
   Message-ID, and if it is there the message is marked sent, not sent again.

The one window that remains: the server has answered 250 and the worker dies before
step 3 commits (one UPDATE, milliseconds), on a mailbox whose server does not file
sent mail into Sent itself, so that the Sent folder cannot tell (Postroom appends its
copy only after step 3). That email goes out twice. SMTP has no way to ask a server
whether it already took a message, so no client can close this window; it is as
small as one commit.
"""

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone

from postroom import webhooks
from postroom.accounts.actions import do_notify
from postroom.accounts.services import is_internal_address
from postroom.crm import actions as crm_actions
from postroom.crm.capture import known_items
from postroom.crm.models import Activity
from postroom.lib import smtp
from postroom.lib.backoff import backoff_delay
from postroom.mail.ingest import FetchedMessage, parse_stored, store_copies
from postroom.mail.models import Message, MessageCopy
from postroom.mail.search import index_message
from postroom.mail.threads import thread_message
from postroom.mail.workflow import record_reply
from postroom.mailboxes.actions import do_update_folders
from postroom.mailboxes.models import Folder, Mailbox
from postroom.sync import imap
from postroom.sync.service import server_of

from . import quota as quota_rules
from .bounces import link_early_bounces
from .models import MonthlyUsage, OutboundSettings, OutboxMessage
from .placeholders import conversation_items

logger = logging.getLogger(__name__)

Status = OutboxMessage.Status

# Retries wait base * 2^(attempt - 1), jittered, at most this long.
MAX_BACKOFF = timedelta(hours=1)
# Sent mail whose Sent-folder copy could not be made is still shown in Postroom at
# once, from a folder of its own that no sync touches (as the ingress does).
OUTBOX_FOLDER = "(outbox)"
# Job priority of filing a sent email (deliveries have the default, 0).
SAVE_PRIORITY = -10
OUTBOX_UIDVALIDITY = 1


def _config(name: str):
    return settings.POSTROOM[name]


def stale_after() -> timedelta:
    """How old a `sending` attempt is when its worker must have died (SEND_STALE_AFTER)."""
    return timedelta(seconds=_config("SEND_STALE_AFTER"))


def smtp_server_of(mailbox: Mailbox) -> smtp.SmtpServer:
    # Its own SMTP login where it has one, else the IMAP one; none at all (a mailbox
    # fed by the ingress alone) sends through a relay without a login.
    username, password = mailbox.smtp_login()
    return smtp.SmtpServer(
        host=mailbox.smtp_host,
        port=mailbox.smtp_port or 0,
        security=mailbox.smtp_security or "none",
        username=username,
        password=password,
        allow_self_signed=mailbox.allow_self_signed,
    )


def _schedule(outbox_id: int, when: datetime | None = None) -> None:
    # Imported here: the jobs module imports this one to run it.
    from .jobs import deliver_outbox

    task = deliver_outbox.using(run_after=when) if when else deliver_outbox
    task.enqueue(outbox_id)


def _schedule_save(outbox_id: int, when: datetime | None = None) -> None:
    from .jobs import save_sent

    # Below deliveries: under a burst the runners send first and file after, so that
    # filing (an IMAP append, parsing, the CRM) never holds up an email that waits.
    task = save_sent.using(priority=SAVE_PRIORITY, run_after=when)
    task.enqueue(outbox_id)


def backoff(attempts: int) -> timedelta:
    """How long to wait after the given number of failed attempts."""
    seconds = backoff_delay(
        attempts,
        base=_config("SEND_RETRY_BASE"),
        cap=MAX_BACKOFF.total_seconds(),
        jitter=0.1,  # retries of a burst spread out
    )
    return timedelta(seconds=seconds)


# ----------------------------------------------------------------- quota and rate


_month_start = quota_rules.month_start
_next_month = quota_rules.next_month


def _wait_for_limits(outbox: OutboxMessage, now: datetime) -> tuple[datetime, str] | None:
    """(until when, why) if the monthly quota or the mailbox's rate stops this send.

    Runs in the claim's transaction: the month's usage row is locked first, so two
    workers' checks take turns and the quota is never overrun.
    """
    month = _month_start(now).date()
    usage = MonthlyUsage.objects.select_for_update().filter(month=month).first()
    if usage is None:  # the month's first email: the row is made once, then locked
        MonthlyUsage.objects.get_or_create(month=month)
        usage = MonthlyUsage.objects.select_for_update().get(month=month)
    quota = quota_rules.monthly_quota()  # None: unlimited
    in_flight = OutboxMessage.objects.filter(status=Status.SENDING).count()
    if quota is not None and usage.sent + in_flight >= quota:
        until = _next_month(now)
        return until, (
            f"monthly quota of {quota} reached; waits until {until:%Y-%m-%d %H:%M} "
            "(your administrator can raise it on the Limits page)"
        )
    rate = _config("MAILBOX_RATE_PER_MINUTE")
    if not rate:
        return None
    window = now - timedelta(minutes=1)
    recent = list(
        OutboxMessage.objects.filter(mailbox_id=outbox.mailbox_id, last_attempt_at__gt=window)
        .exclude(pk=outbox.pk)
        .order_by("-last_attempt_at")
        .values_list("last_attempt_at", flat=True)[:rate]
    )
    if len(recent) >= rate:
        # The slot frees when the oldest of the last `rate` attempts leaves the window.
        until = recent[-1] + timedelta(minutes=1)
        local = timezone.localtime(until)
        return until, (
            f"{outbox.mailbox.address} sends at most {rate} emails a minute; "
            f"waits until {local:%H:%M:%S}"
        )
    return None


# ----------------------------------------------------------------- one attempt


@transaction.atomic
def _claim(outbox_id: int) -> OutboxMessage | None:
    """Commit the start of an attempt; None when there is nothing to do now."""
    outbox = (
        OutboxMessage.objects.select_for_update(of=("self",))
        .select_related("mailbox")
        .filter(pk=outbox_id)
        .first()
    )
    if outbox is None:
        return None
    now = timezone.now()
    if outbox.status == Status.SENDING:
        if outbox.last_attempt_at and outbox.last_attempt_at > now - stale_after():
            # A worker is on it (or this job is a duplicate): look again once the
            # attempt would be stale, in case that worker dies.
            _schedule(outbox.pk, outbox.last_attempt_at + stale_after())
            return None
        # Its worker died mid-attempt: the server may have the email.
        outbox.delivery_unknown = True
    elif outbox.status == Status.QUEUED:
        if outbox.not_before and outbox.not_before > now:
            # Still in its undo window (a job run early, a clock behind): never sooner.
            _schedule(outbox.pk, outbox.not_before)
            return None
        if outbox.next_attempt_at and outbox.next_attempt_at > now:
            # Early (a duplicate job, or a worker whose clock runs behind): come back
            # then rather than trust that another job will.
            _schedule(outbox.pk, outbox.next_attempt_at)
            return None
        wait = _wait_for_limits(outbox, now)
        if wait is not None:
            outbox.next_attempt_at, outbox.last_error = wait
            outbox.save(update_fields=["next_attempt_at", "last_error"])
            _schedule(outbox.pk, outbox.next_attempt_at)
            logger.info("outbox %s waits: %s", outbox.pk, outbox.last_error)
            return None
    else:
        return None  # sent or failed: a duplicate job
    outbox.status = Status.SENDING
    outbox.attempts += 1
    outbox.last_attempt_at = now
    outbox.next_attempt_at = None
    outbox.save(
        update_fields=[
            "status",
            "attempts",
            "last_attempt_at",
            "next_attempt_at",
            "delivery_unknown",
        ]
    )
    return outbox


def deliver(outbox_id: int) -> None:
    """One delivery attempt of one Outbox email; every outcome is committed."""
    outbox = _claim(outbox_id)
    if outbox is None:
        return
    if outbox.delivery_unknown:
        try:
            found = in_sent_folder(outbox)
        except Exception as exc:  # a refused login, a dropped connection: look again later
            error = f"could not look for it in the Sent folder before sending again: {exc}"
            _retry(outbox, error, unknown=True)
            return
        if found:
            logger.info("outbox %s: found in Sent after an interrupted attempt", outbox.pk)
            _mark_sent(outbox, note="found in the Sent folder after an interrupted attempt")
            return
    try:
        accepted = _send(outbox)
    except smtp.MaybeDelivered as exc:
        _retry(outbox, str(exc), unknown=True)
    except smtp.TemporaryFailure as exc:
        _retry(outbox, str(exc))
    except smtp.PermanentFailure as exc:
        _fail(outbox, str(exc))
    except Exception as exc:
        # A bug or an unexpected error mid-conversation: whether the server took the
        # email is unknown, so the retry looks in Sent first.
        logger.exception("outbox %s: sending failed unexpectedly", outbox.pk)
        _retry(outbox, f"internal error while sending: {exc!r}", unknown=True)
    else:
        refused = "; ".join(f"{rcpt}: {words}" for rcpt, words in accepted.refused.items())
        _mark_sent(outbox, note=f"not delivered to {refused}" if refused else "")


# Per-recipient copies of an email (the tracking app's, registered in its ready()):
# a function (outbox) -> None to send the email as it is, or a list of copies, each
# with .recipients, .raw and .on_sent() (called once the server took that copy, so
# that a retry sends only the copies not taken yet).
_copy_makers: list = []


def register_copies(maker) -> None:
    if maker not in _copy_makers:
        _copy_makers.append(maker)


def _send(outbox: OutboxMessage) -> smtp.Accepted:
    """One SMTP transaction for the email, or one per copy when a maker asks for them."""
    server, timeout = smtp_server_of(outbox.mailbox), _config("SMTP_TIMEOUT")
    copies = next((c for m in _copy_makers if (c := m(outbox)) is not None), None)
    if copies is None:
        return smtp.send(
            server, outbox.sender, outbox.recipients, bytes(outbox.raw), timeout=timeout
        )
    refused: dict[str, str] = {}
    taken = 0
    for copy in copies:
        try:
            accepted = smtp.send(server, outbox.sender, copy.recipients, copy.raw, timeout=timeout)
        except smtp.PermanentFailure as exc:
            # One recipient's address refused is a note, as in one transaction to all;
            # a refused login or sender fails the first copy already, and so the email.
            if not taken and copy is copies[-1]:
                raise
            refused.update({r: str(exc) for r in copy.recipients})
            continue
        copy.on_sent()
        taken += 1
        refused.update(accepted.refused)
    if not taken and copies:
        raise smtp.PermanentFailure("; ".join(dict.fromkeys(refused.values())))
    return smtp.Accepted(refused=refused)


@transaction.atomic
def _mark_sent(outbox: OutboxMessage, *, note: str = "") -> None:
    now = timezone.now()
    changed = OutboxMessage.objects.filter(pk=outbox.pk, status=Status.SENDING).update(
        status=Status.SENT,
        sent_at=now,
        last_error=note,
        delivery_unknown=False,
        next_attempt_at=None,
    )
    if not changed:
        return
    webhooks.emit("email.sent", outbox, sent_at=now)
    month = _month_start(now).date()
    if not MonthlyUsage.objects.filter(month=month).update(sent=F("sent") + 1):
        MonthlyUsage.objects.get_or_create(month=month)
        MonthlyUsage.objects.filter(month=month).update(sent=F("sent") + 1)
    _schedule_save(outbox.pk)


@transaction.atomic
def _retry(outbox: OutboxMessage, error: str, *, unknown: bool = False) -> None:
    if outbox.attempts >= _config("SEND_MAX_ATTEMPTS"):
        maybe = " (the server may have taken it)" if unknown else ""
        _fail(outbox, f"gave up after {outbox.attempts} attempts{maybe}: {error}")
        return
    when = timezone.now() + backoff(outbox.attempts)
    changed = OutboxMessage.objects.filter(pk=outbox.pk, status=Status.SENDING).update(
        status=Status.QUEUED, next_attempt_at=when, last_error=error, delivery_unknown=unknown
    )
    if changed:
        logger.info("outbox %s: %s; next attempt at %s", outbox.pk, error, when)
        _schedule(outbox.pk, when)


def failure_url(outbox: OutboxMessage) -> str:
    """Where a failure notice leads: the email on its conversation, else on the Outbox;
    the anchor names this email, so that the notice is found and withdrawn once the
    email is retried or edited (postroom/outbound/failed.py)."""
    if outbox.conversation_id:
        page = reverse("web:conversation", args=[outbox.conversation_id])
    else:
        page = reverse("web:outbox", args=[outbox.mailbox_id])
    return f"{page}#outbox-{outbox.pk}"


@transaction.atomic
def _fail(outbox: OutboxMessage, error: str) -> None:
    changed = OutboxMessage.objects.filter(pk=outbox.pk, status=Status.SENDING).update(
        status=Status.FAILED, last_error=error, next_attempt_at=None
    )
    if not changed:
        return
    logger.warning("outbox %s failed: %s", outbox.pk, error)
    if outbox.author_id:
        do_notify(
            [outbox.author],
            f"Your email “{outbox.subject or '(no subject)'}” was not sent: {error}. "
            "Retry it or edit it as a draft.",
            url=failure_url(outbox),
        )


# ----------------------------------------------------------------- the Sent folder


def _search_criterion(message_id: str) -> str:
    quoted = f"<{message_id}>".replace("\\", "\\\\").replace('"', '\\"')
    return f'HEADER Message-ID "{quoted}"'


def _sent_folder(client, mailbox: Mailbox) -> Folder | None:
    """The mailbox's Sent folder, read from the server's folders when not known yet."""
    found = mailbox.folders.filter(role=Folder.Role.SENT).exclude(name=OUTBOX_FOLDER).first()
    if found is not None:
        return found
    remote = imap.list_folders(client)
    if not any(f.role == Folder.Role.SENT for f in remote):
        return None
    do_update_folders(mailbox, [(f.name, f.role) for f in remote])
    return mailbox.folders.filter(role=Folder.Role.SENT).exclude(name=OUTBOX_FOLDER).first()


def in_sent_folder(outbox: OutboxMessage) -> bool:
    """Whether the mailbox's Sent folder on the server holds this email already."""
    if not outbox.mailbox.has_imap:
        return False  # fed by the ingress alone: there is no Sent folder to ask
    with imap.connect(server_of(outbox.mailbox), timeout=_config("IMAP_TIMEOUT")) as client:
        folder = _sent_folder(client, outbox.mailbox)
        if folder is None:
            return False
        imap.select(client, folder.name)
        return bool(imap.search_uids(client, _search_criterion(outbox.message_id)))


def _append_once(outbox: OutboxMessage) -> tuple[Folder, int, int | None] | None:
    """Put the email in the server's Sent folder unless it is there already; returns
    (folder, UIDVALIDITY, UID or None if the server would not say), None without Sent."""
    with imap.connect(server_of(outbox.mailbox), timeout=_config("IMAP_TIMEOUT")) as client:
        folder = _sent_folder(client, outbox.mailbox)
        if folder is None:
            return None
        status = imap.select(client, folder.name)
        criterion = _search_criterion(outbox.message_id)
        # Searched first, so that a retry after a crash between the APPEND and our
        # commit does not file the email twice.
        found = imap.search_uids(client, criterion)
        if found:
            return folder, status.uidvalidity, found[-1]
        appended = imap.append(client, folder.name, bytes(outbox.raw), "\\Seen")
        if appended is not None:
            return folder, *appended
        client.client.noop()  # without UIDPLUS: find the new message's UID by searching
        found = imap.search_uids(client, criterion)
        return folder, status.uidvalidity, found[-1] if found else None


def _outbox_folder(mailbox: Mailbox) -> Folder:
    folder, _ = Folder.objects.get_or_create(
        mailbox=mailbox,
        name=OUTBOX_FOLDER,
        defaults={"role": Folder.Role.OTHER, "is_synced": False, "uidvalidity": OUTBOX_UIDVALIDITY},
    )
    return folder


def save_sent(outbox_id: int) -> None:
    """After sending: a copy in the server's Sent folder, the email in its conversation
    in Postroom, and an outgoing activity on the customer's CRM items. Idempotent."""
    outbox = OutboxMessage.objects.select_related("mailbox").filter(pk=outbox_id).first()
    if outbox is None or outbox.status != Status.SENT:
        return
    placed, problem, retry = None, "", False
    wanted = outbox.mailbox.has_imap and OutboundSettings.of(outbox.mailbox).save_to_sent
    if wanted and not outbox.saved_to_sent:
        try:
            placed = _append_once(outbox)
        except Exception as exc:  # the email is sent: a failure here only delays the copy
            logger.info("outbox %s: saving to Sent failed", outbox.pk, exc_info=True)
            problem, retry = f"could not save it to the Sent folder: {exc}", True
        else:
            if placed is None:
                problem = "the server has no Sent folder to save it to"
    with transaction.atomic():
        outbox = (
            OutboxMessage.objects.select_for_update(of=("self",))
            .select_related("mailbox")
            .get(pk=outbox_id)
        )
        if placed is not None:
            outbox.saved_to_sent = True
        if placed is not None and placed[2] is not None:
            outbox.stored_message = _record(outbox, *placed)
        elif outbox.stored_message_id is None:
            # Shown at once all the same; the Sent copy, when made, joins this Message.
            folder = _outbox_folder(outbox.mailbox)
            outbox.stored_message = _record(outbox, folder, OUTBOX_UIDVALIDITY, outbox.pk)
        outbox.save_error = problem
        if problem:
            logger.warning("outbox %s: %s", outbox.pk, problem)
            outbox.save_attempts += 1
            if retry and outbox.save_attempts < _config("SEND_MAX_ATTEMPTS"):
                _schedule_save(outbox.pk, timezone.now() + backoff(outbox.save_attempts))
        # Only these: _record may have linked a bounce to the row meanwhile.
        outbox.save(
            update_fields=["saved_to_sent", "stored_message", "save_error", "save_attempts"]
        )


def _record(outbox: OutboxMessage, folder: Folder, uidvalidity: int, uid: int) -> Message:
    """The sent email as a Message in its conversation, at once, rather than when the
    next sync of Sent brings it: identity makes that sync join this Message."""
    raw = bytes(outbox.raw)
    fetched = FetchedMessage(uid=uid, raw=raw, flags=("\\Seen",), internal_date=outbox.sent_at)
    store_copies(folder, uidvalidity, [fetched])
    # By its copy, not by identity: the copy may be a sync's, stored a moment earlier.
    message = (
        MessageCopy.objects.select_related("message")
        .get(folder=folder, uidvalidity=uidvalidity, uid=uid)
        .message
    )
    parse_stored(message)
    conversation = thread_message(message, outbox.mailbox)
    # The reply history: who answered, when, from which address, after how long. An
    # auto-reply answers nobody: the customer still waits for a person.
    if outbox.kind != OutboxMessage.Kind.AUTO_REPLY:
        record_reply(
            conversation,
            message,
            author=outbox.author,
            from_address=outbox.sender,
            sent_at=outbox.sent_at or timezone.now(),
            forward=outbox.kind == OutboxMessage.Kind.FORWARD,
        )
    index_message(message)  # searchable at once, as mail that arrives through ingest is
    _record_activity(outbox, message)
    link_early_bounces(outbox, message)
    return message


def _record_activity(outbox: OutboxMessage, message: Message) -> None:
    """The email as an outgoing activity on the CRM items of the people it went to,
    and on those the answered email is bound to."""
    items = []
    ours = set(Mailbox.objects.values_list("address", flat=True))
    for address in dict.fromkeys([*message.to_addresses, *message.cc_addresses]):
        if address in ours or is_internal_address(address):
            continue  # the organisation's own people are never CRM items
        items.extend(known_items(address))
    if outbox.parent_id:
        parent = Activity.objects.filter(message_id=outbox.parent_id).first()
        if parent is not None:
            items.extend(entry.item for entry in parent.entries.all() if entry.item is not None)
    # And every item the conversation is on (the deal of a thread that began elsewhere).
    items.extend(conversation_items(outbox.conversation))
    unique = {(type(item), item.pk): item for item in items}
    if not unique:
        return
    # The colleague who wrote it is the activity's person: the timeline says who answered.
    activity = crm_actions.do_record_email_activity(
        message, direction="out", responsible=outbox.author
    )
    for item in unique.values():
        crm_actions.do_bind_activity(activity, item)


# ----------------------------------------------------------------- recovery


def requeue_stalled(now: datetime | None = None) -> int:
    """Give a job again to every email whose job was lost: one left `sending` by a
    dead worker, one `queued` long past its time, one sent but not saved. Safe to
    run any time and on any number of workers: `_claim` lets one attempt through."""
    now = now or timezone.now()
    grace = timedelta(minutes=5)
    stalled = (
        OutboxMessage.objects.filter(
            Q(status=Status.SENDING, last_attempt_at__lt=now - stale_after())
            | Q(status=Status.QUEUED, next_attempt_at__lt=now - grace)
            | Q(status=Status.QUEUED, next_attempt_at__isnull=True, created_at__lt=now - grace)
        )
        .exclude(status=Status.QUEUED, not_before__gt=now - grace)
        .values_list("pk", flat=True)
    )
    unsaved = OutboxMessage.objects.filter(
        status=Status.SENT, stored_message__isnull=True, sent_at__lt=now - grace
    ).values_list("pk", flat=True)
    count = 0
    with transaction.atomic():
        for pk in stalled:
            _schedule(pk)
            count += 1
        for pk in unsaved:
            _schedule_save(pk)
            count += 1
    return count
