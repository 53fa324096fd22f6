"""Notifications: the header's live badge and list (polled as JSON by notifications.js,
no reload) and each user's choices of what they are told, and how."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from postroom.accounts.notify import KINDS, choices_of, do_set_preferences, email_configured

from .times import exact as exact_time

LIVE_ITEMS = 10


@login_required
@require_GET
@never_cache
def notifications_live(request):
    """The unread count and the newest notifications, for the badge and the lists."""
    mine = request.user.notifications
    newest = mine.order_by("-created_at", "-pk")[:LIVE_ITEMS]
    now = timezone.now()
    return JsonResponse(
        {
            "unread": mine.filter(read_at__isnull=True).count(),
            "items": [
                {
                    "id": note.pk,
                    "kind": note.kind,
                    "text": note.text,
                    "url": note.url,
                    "unread": note.read_at is None,
                    "created_at": note.created_at.isoformat(),
                    # To the second in the reader's zone, for the hover (times.exact).
                    "exact": exact_time(note.created_at),
                    "seconds_ago": max(0, int((now - note.created_at).total_seconds())),
                }
                for note in newest
            ],
        }
    )


@login_required
def notification_settings(request):
    """Per kind: in the app and/or by email."""
    if request.method == "POST":
        chosen = {
            kind: (f"{kind}:app" in request.POST, f"{kind}:email" in request.POST)
            for kind in KINDS.values
        }
        do_set_preferences(request.user, chosen)
        messages.success(request, "Notification settings saved.")
        return redirect("web:notification_settings")
    context = {
        "choices": choices_of(request.user),
        "email_problem": email_configured(),
        "email": request.user.email,
    }
    return render(request, "web/notification_settings.html", context)
