"""The quarantine: messages that could not be parsed, to look at and reprocess after a
fix. Their raw bytes are kept; "Show original" and the .eml download of the message views
work for them as for any message.

Whose quarantine: a shared mailbox's is the administrators'; a personal mailbox's is its
owner's alone, administrators included (as the rest of a personal mailbox's mail).
"""

from django.contrib import messages as flash
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Prefetch, Q, QuerySet
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from postroom import pipeline
from postroom.jobs.recovery import gave_up
from postroom.mail.ingest import reprocess as reprocess_message
from postroom.mail.models import Message, MessageCopy
from postroom.mailboxes.models import Mailbox

PAGE_SIZE = 50


def _quarantine_mailboxes(user) -> QuerySet[Mailbox]:
    """The mailboxes whose quarantined mail the user sees: their own personal mailboxes,
    and every shared one for an administrator."""
    mine = Q(kind=Mailbox.Kind.PERSONAL, owner=user)
    if user.is_superuser:
        return Mailbox.objects.filter(mine | Q(kind=Mailbox.Kind.SHARED))
    return Mailbox.objects.filter(mine)


def _quarantined_for(user) -> QuerySet[Message]:
    mailboxes = _quarantine_mailboxes(user)
    return Message.objects.filter(
        status=Message.Status.QUARANTINED,
        pk__in=MessageCopy.objects.filter(mailbox__in=mailboxes).values("message_id"),
    )


@login_required
def quarantine(request):
    mailboxes = _quarantine_mailboxes(request.user)
    quarantined = (
        _quarantined_for(request.user)
        .order_by("-created_at")
        .prefetch_related(
            # Only the copies in the reader's mailboxes: one email seen by a shared and a
            # personal mailbox does not tell the administrator whose personal mailbox.
            Prefetch(
                "copies",
                MessageCopy.objects.filter(mailbox__in=mailboxes).select_related(
                    "mailbox", "folder"
                ),
            )
        )
    )
    page = Paginator(quarantined, PAGE_SIZE).get_page(request.GET.get("page"))
    # Jobs given up (jobs.recovery), administrators only: an email they carried is
    # quarantined above, but a capture or a purge given up shows only here (and in the log).
    jobs = gave_up() if request.user.is_superuser else []
    return render(request, "web/quarantine.html", {"page": page, "jobs_given_up": jobs})


@login_required
@require_POST
def reprocess(request, message_id: int):
    """Parse a quarantined message again; if it parses now, it goes on its way: threaded,
    searchable and captured into the CRM like any new message."""
    message = reprocess_message(get_object_or_404(_quarantined_for(request.user), pk=message_id))
    if message.status == Message.Status.PARSED:
        for mailbox_id in message.copies.values_list("mailbox_id", flat=True).distinct():
            pipeline.messages_arrived([message.pk], mailbox_id)
        flash.success(request, f"Message {message.pk} is parsed now: {message}")
    else:
        flash.error(request, f"Message {message.pk} is still quarantined: {message.error}")
    return redirect("web:quarantine")
