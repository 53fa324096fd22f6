"""The quarantine: messages that could not be parsed, for administrators to look at and
reprocess after a fix. Their raw bytes are kept; "Show original" and the .eml download
of the message views work for them as for any message."""

from django.contrib import messages as flash
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Prefetch
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from postroom import pipeline
from postroom.jobs.recovery import gave_up
from postroom.mail.ingest import reprocess as reprocess_message
from postroom.mail.models import Message, MessageCopy

PAGE_SIZE = 50


def _require_admin(user) -> None:
    # Quarantined mail of every mailbox is listed: only those who may read every mailbox.
    if not user.is_superuser:
        raise Http404


@login_required
def quarantine(request):
    _require_admin(request.user)
    quarantined = (
        Message.objects.filter(status=Message.Status.QUARANTINED)
        .order_by("-created_at")
        .prefetch_related(
            Prefetch("copies", MessageCopy.objects.select_related("mailbox", "folder"))
        )
    )
    page = Paginator(quarantined, PAGE_SIZE).get_page(request.GET.get("page"))
    # Jobs given up (jobs.recovery): an email they carried is quarantined above, but a
    # capture or a purge given up shows only here (and in the log).
    return render(request, "web/quarantine.html", {"page": page, "jobs_given_up": gave_up()})


@login_required
@require_POST
def reprocess(request, message_id: int):
    """Parse a quarantined message again; if it parses now, it goes on its way: threaded,
    searchable and captured into the CRM like any new message."""
    _require_admin(request.user)
    message = reprocess_message(
        get_object_or_404(Message, pk=message_id, status=Message.Status.QUARANTINED)
    )
    if message.status == Message.Status.PARSED:
        for mailbox_id in message.copies.values_list("mailbox_id", flat=True).distinct():
            pipeline.messages_arrived([message.pk], mailbox_id)
        flash.success(request, f"Message {message.pk} is parsed now: {message}")
    else:
        flash.error(request, f"Message {message.pk} is still quarantined: {message.error}")
    return redirect("web:quarantine")
