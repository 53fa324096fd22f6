"""The path of one email, each step a job keyed by what it consumes:

    sync (raw bytes stored, MessageCopy recorded; an initial sync's backfill stores
          a FetchedBatch, and the `record` job records its messages)
      -> ingest: parse, quarantine on failure, thread into the mailbox's conversation
      -> capture: put it on the right CRM item by the mailbox's rule (a batch of one
         email, a push or the ingress, is captured inside its ingest job)
      -> assign: the mailbox's distribution rules choose the responsible person of the
         email's conversation and of the CRM items it created, in the capture's
         transaction (routing/assign.py; capture asks through a hook, never imports it)
      -> auto-reply: the mailbox's auto-reply, decided by routing/autoreply.py (every
         skip recorded with why) and written into the Outbox by outbound/autoreply.py,
         in the same transaction

Written in one module so the order reads in one place and no app imports one further
along the path. Every step is idempotent: running it twice changes nothing.
"""

import logging
from collections.abc import Sequence
from datetime import timedelta

from django.db import transaction
from django_tasks import task

from postroom.crm.capture import capture_messages
from postroom.crm.models import Activity
from postroom.jobs import on_give_up
from postroom.mail.bulk import select_in
from postroom.mail.fetched import overdue_batches, record_batch
from postroom.mail.ingest import ingest_messages, quarantine_unparsed
from postroom.mail.models import Message, outside_spam
from postroom.mail.purge import purge_messages
from postroom.mail.workflow import mail_threaded
from postroom.mailboxes.models import Mailbox
from postroom.outbound.autoreply import queue as queue_auto_replies
from postroom.routing import sla
from postroom.routing.assign import Router
from postroom.routing.autoreply import plan as plan_auto_replies

logger = logging.getLogger(__name__)

# A fetched batch still waiting after this long lost its `record` job (a runner died):
# the job records a batch in a fraction of a second, and a backlog of them in minutes.
RECORD_OVERDUE = timedelta(minutes=15)
# Emails per purge job: a mailbox of 100,000 is forgotten by 20 jobs of small arguments.
FORGET_BATCH = 5000
# Captured emails logged a line each; a bigger batch is one line.
LOGGED_PER_EMAIL = 10


def messages_arrived(message_ids: list[int], mailbox_id: int) -> None:
    """Start the path for messages newly seen in a mailbox, once the caller commits.

    One job per fetched batch, not per message: an initial sync of 10,000 messages
    queues 20 jobs, and a pushed single email is a batch of one.
    """
    ingest.enqueue(message_ids, mailbox_id)


def batch_fetched(batch_id: int) -> None:
    """Record a backfill's fetched batch, once the caller commits."""
    record.enqueue(batch_id)


@task()
def record(batch_id: int) -> None:
    # One transaction: the ingest job is queued with the copies it will read, or neither.
    with transaction.atomic():
        recorded = record_batch(batch_id)
        if recorded is None:
            return  # recorded already: this job ran twice
        arrived, mailbox_id = recorded
        if arrived:
            messages_arrived(arrived, mailbox_id)


@task()
def recover_fetched() -> int:
    """Record the fetched batches whose `record` job was lost with a dead job runner;
    safe at any time (the housekeeping of `postroom jobs` runs it every minute)."""
    overdue = overdue_batches(RECORD_OVERDUE)
    for batch_id in overdue:
        record.call(batch_id)
    if overdue:
        logger.warning("%s fetched batch(es) had lost their record job: recorded", len(overdue))
    return len(overdue)


def message_arrived(message_id: int, mailbox_id: int) -> None:
    messages_arrived([message_id], mailbox_id)


@task()
def ingest(message_ids: list[int], mailbox_id: int) -> None:
    mailbox = _mailbox_of("ingest", message_ids, mailbox_id)
    if mailbox is None:
        return
    # Parsed, threaded and indexed set-wise; a message that cannot be parsed is
    # quarantined (threaded, so it shows in its mailbox with the error) and never
    # reaches the CRM, and one broken message never holds up the batch.
    messages = ingest_messages(message_ids, mailbox)
    # A customer's email reopens its conversation and starts the wait for an answer.
    mail_threaded([m.pk for m in messages], mailbox)
    parsed = [m.pk for m in messages if m.status == Message.Status.PARSED]
    # Mail seen only in the mailbox's spam folder never feeds the CRM.
    wanted = list(outside_spam(parsed, mailbox))
    if spam := sorted(set(parsed) - set(wanted)):
        # Never answered either: the auto-reply records why, on the conversation.
        auto_reply(mailbox, list(Message.objects.filter(pk__in=spam)), {})
    if len(wanted) == 1:
        # One email (a push, the ingress): captured in this job, not a second one that
        # would double the job runner's work per email while the CRM waits for it.
        capture.call(wanted, mailbox_id)
    elif wanted:
        capture.enqueue(wanted, mailbox_id)


@on_give_up(ingest)
def _ingest_given_up(message_ids: list[int], mailbox_id: int, *, reason: str) -> None:
    """An ingest job that never finished: one of its emails may stop every run (a bug,
    or a shape no bound foresaw). Each email of a batch goes on alone, with runs of its
    own; an email alone is quarantined with the reason, and the mailbox shows it."""
    if len(message_ids) > 1:
        for message_id in message_ids:
            ingest.enqueue([message_id], mailbox_id)
    elif mailbox := _mailbox_of("quarantine", message_ids, mailbox_id):
        quarantine_unparsed(message_ids, mailbox, f"parsing did not finish: {reason}")


@task()
def capture(message_ids: list[int], mailbox_id: int) -> None:
    """Put a batch of one mailbox's mail in the CRM and assign it: senders are resolved
    for the whole batch at once, each email is captured in its own savepoint, and the
    distribution rules (read once) assign its conversation and new items in the same
    transaction."""
    mailboxes = Mailbox.objects.select_related("owner", "crm_responsible")
    mailbox = _mailbox_of("capture", message_ids, mailbox_id, mailboxes)
    if mailbox is None:
        return
    router = Router.load(mailbox)
    messages = Message.objects.filter(pk__in=message_ids).order_by("pk")
    if not router.needs_body:
        # Capture reads headers, never bodies: they stay in the database unless a keyword
        # rule reads them.
        messages = messages.defer("text_body", "html_body")
    messages = list(messages)
    with transaction.atomic():
        router.prepare(messages)
        results = capture_messages(messages, mailbox, responsible=router.responsible)
        router.assign_conversations(messages, results)
        sla.start_clocks(mailbox, messages, results, router)  # reply deadlines, their tasks
        auto_reply(mailbox, messages, router.conversations)
    _log_captured(results)


def _log_captured(results: dict) -> None:
    """What capture made, a line per email for a few (a push, the ingress), one line
    for a batch of a first sync: a line for each of 10,000 emails cost 0.1 ms of the 2
    an email took, and said nothing a reader could follow."""
    shown = {pk: r for pk, r in results.items() if r.created or r.bound}
    if len(shown) <= LOGGED_PER_EMAIL:
        for message_id, result in shown.items():
            logger.info(
                "message %s in the CRM: created %s, bound to %s",
                message_id,
                [str(i) for i in result.created],
                [str(i) for i in result.bound],
            )
    else:
        logger.info(
            "%s messages (%s to %s) in the CRM: %s item(s) created, %s binding(s)",
            len(shown),
            min(shown),
            max(shown),
            sum(len(r.created) for r in shown.values()),
            sum(len(r.bound) for r in shown.values()),
        )


def auto_reply(mailbox: Mailbox, messages: list[Message], conversations: dict) -> int:
    """The mailbox's auto-reply for what it received (routing decides, recording every
    skip with its reason; outbound writes the email into the Outbox), in the capture's
    transaction; a failure costs the auto-reply, never the mail."""
    try:
        with transaction.atomic():
            return queue_auto_replies(plan_auto_replies(mailbox, messages, conversations))
    except Exception:
        logger.exception("auto-replies of %s email(s) failed", len(messages))
        return 0


def mailbox_disconnected(message_ids: Sequence[int]) -> None:
    """After a mailbox is gone: forget the emails it held that no other mailbox holds,
    once the caller commits (jobs of FORGET_BATCH: a big mailbox takes a while)."""
    ids = list(message_ids)
    for start in range(0, len(ids), FORGET_BATCH):
        forget.enqueue(ids[start : start + FORGET_BATCH])


@task()
def forget(message_ids: list[int]) -> None:
    """Purge emails no mailbox holds any more, except those on a CRM timeline: the CRM
    keeps an email its items show, as it keeps the activity."""
    shown = {pk for (pk,) in select_in(Activity, "message", message_ids, ["message"])}
    purge_messages(message_ids, keep=shown)


def _mailbox_of(
    step: str, message_ids: list[int], mailbox_id: int, mailboxes=Mailbox.objects
) -> Mailbox | None:
    """The job's mailbox; None, said in the log, when it was disconnected (deleted)
    after the sync queued the job: its mail left with it."""
    mailbox = mailboxes.filter(pk=mailbox_id).first()
    if mailbox is None:
        logger.info(
            "%s of %s message(s) skipped: mailbox %s is gone", step, len(message_ids), mailbox_id
        )
    return mailbox
