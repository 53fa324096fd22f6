"""The inbox (home after login) and the conversation's workflow: assign, take, status,
snooze, comments with @mentions, the history and who is replying.

Thin: each view loads what the user may see (web/access.py decides 404 versus 403),
calls postroom/mail/inbox.py or postroom/mail/workflow.py, and responds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.contrib.contenttypes.models import ContentType
from django.db.models import Exists, F, OuterRef, Q, QuerySet
from django.db.models.functions import Substr
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.html import escape
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.utils.timesince import timesince
from django.views.decorators.http import require_GET, require_POST

from postroom.crm.access import items_of_messages
from postroom.crm.items import label_of, title_of, url_of
from postroom.crm.models import Company, Contact, Deal, Lead, SmartItem, TimelineEntry
from postroom.lib.id_lists import AmongIds
from postroom.mail import inbox as inboxes
from postroom.mail import workflow
from postroom.mail.models import Conversation, ConversationEvent, ConversationMessage
from postroom.mail.parse import normalize_subject
from postroom.mailboxes.access import mailboxes_for
from postroom.mailboxes.models import Mailbox, MailboxGrant
from postroom.routing.autoreply import history_of as auto_reply_history

from .access import get_conversation_for_user
from .inbox_rows import people_options, rows_html
from .links import url_maker
from .refusals import refused
from .times import exact as exact_time

PAGE_SIZE = 50
SNIPPET_CHARS = 120
# The CRM filter: conversations on an item of this kind, or on none.
CRM_KINDS = {
    "lead": ("On a lead", Lead),
    "deal": ("On a deal", Deal),
    "contact": ("On a contact", Contact),
    "company": ("On a company", Company),
    "smart": ("On a smart item", SmartItem),
    "none": ("On no CRM item", None),
}
# The snooze menu: label -> how long.
SNOOZE_CHOICES = {
    "1h": ("1 hour", timedelta(hours=1)),
    "3h": ("3 hours", timedelta(hours=3)),
    "1d": ("Tomorrow", timedelta(days=1)),
    "3d": ("3 days", timedelta(days=3)),
    "7d": ("Next week", timedelta(days=7)),
}


# ------------------------------------------------------------------- the list

# The columns the inbox page shows (web/inbox/inbox.html), read instead of whole rows:
# the page's time is mostly Python, and most of that is building objects. A field the
# rows start to show must be added here, else each row reads it with a query of its
# own (test_inbox_queries.py counts them).
PERSON_FIELDS = ("username", "first_name", "last_name", "is_active")
ROW_FIELDS = (
    "subject", "last_sender", "last_message_at", "message_count", "status", "snoozed_until",
    "waiting_since", "has_attachment", "reply_due_at", "mailbox_id", "responsible_id",
)  # fmt: skip


def _attach(conversations: list[Conversation], mailboxes, people) -> None:
    """Each row's mailbox and responsible person from those the page reads anyway (the
    mailbox list, the people one may assign to), not joined into every row: 50 rows
    made 50 more Mailbox and User objects. Someone responsible who is not among the
    people (deactivated, or no longer reading the mailbox) is read, all in one query."""
    boxes = {m.pk: m for m in mailboxes}
    known = {p.pk: p for p in people}
    if missing := {c.responsible_id for c in conversations} - known.keys() - {None}:
        others = get_user_model().objects.filter(pk__in=missing).only(*PERSON_FIELDS)
        known.update((p.pk, p) for p in others)
    made: dict[int, Mailbox] = {}
    for c in conversations:
        if (mailbox := made.get(c.mailbox_id)) is None:
            mailbox = made[c.mailbox_id] = boxes[c.mailbox_id].as_mailbox()
        c.mailbox = mailbox
        c.responsible = known.get(c.responsible_id)


@dataclass
class Row:
    conversation: Conversation
    snippet: str = ""
    sender: str = ""
    crm: list[tuple[str, str, str]] | None = None  # (label, title, url)

    url: str = ""
    reply_url: str = ""
    # How long the customer has waited (since the newest email when nobody waits).
    age: str = ""
    waited_iso: str = ""
    waited_exact: str = ""


def _on_crm(listed: QuerySet, kind: str) -> QuerySet:
    if kind not in CRM_KINDS:
        return listed
    bound = TimelineEntry.objects.filter(
        activity__message__conversationmessage__conversation=OuterRef("pk")
    )
    model = CRM_KINDS[kind][1]
    if model is None:
        return listed.exclude(Exists(bound))
    return listed.filter(
        Exists(bound.filter(content_type=ContentType.objects.get_for_model(model)))
    )


def _rows(user, conversations: list[Conversation]) -> list[Row]:
    """Each conversation with its newest email's first words and sender, and the CRM
    items (those the user may read) its emails are on: three queries for the page."""
    # Formatted here, not by template tags: 50 rows of {% url %} and date filters were
    # half of the page's time.
    show, reply = url_maker("web:conversation"), url_maker("web:reply")
    rows = {}
    for c in conversations:
        since = timezone.localtime(c.waiting_since or c.last_message_at)
        rows[c.pk] = Row(
            c,
            url=show(c.pk),
            reply_url=reply(c.pk),
            age=timesince(since),
            waited_iso=since.isoformat(),
            waited_exact=exact_time(since),
        )
    links = (
        ConversationMessage.objects.filter(conversation__in=list(rows))
        .annotate(start=Substr("message__text_body", 1, SNIPPET_CHARS * 3))
        .values_list(
            "conversation_id",
            "message_id",
            "message__from_name",
            "message__from_address",
            "start",
            "message__date",
        )
        .order_by("conversation_id", "-message__date", "-message_id")
    )
    message_ids: dict[int, int] = {}
    for conversation_id, message_id, name, address, start, _date in links:
        message_ids[message_id] = conversation_id
        row = rows[conversation_id]
        if not row.sender:
            row.sender = name or address or row.conversation.last_sender
            words = " ".join((start or "").split())
            row.snippet = words[:SNIPPET_CHARS] + ("…" if len(words) > SNIPPET_CHARS else "")
    seen: dict[int, set] = {}
    for message_id, items in items_of_messages(user, list(message_ids)).items():
        row = rows[message_ids[message_id]]
        row.crm = row.crm or []
        for item in items:
            key = (type(item), item.pk)
            if key not in seen.setdefault(row.conversation.pk, set()):
                seen[row.conversation.pk].add(key)
                row.crm.append((label_of(item), title_of(item), url_of(item)))
    return list(rows.values())


def _mailbox_menus(mailboxes, view: str, chosen: int | None, move_targets) -> dict:
    """The page's three lists of mailboxes (the navigation, the filter and the Move
    menu), written here: an administrator's 200 mailboxes made 600 template loops, most
    of the page's rendering."""
    links, options, view = [], [], escape(view)
    for mailbox in mailboxes:
        name, here = escape(mailbox.name), mailbox.pk == chosen
        current, selected = (' class="current"', " selected") if here else ("", "")
        link = f"?view={view}&amp;mailbox={mailbox.pk}"
        links.append(f'<li><a href="{link}"{current}>{name}</a></li>')
        options.append(f'<option value="{mailbox.pk}"{selected}>{name}</option>')
    moves = [
        f'<option value="{m.pk}">{escape(m.name)} &lt;{escape(m.address)}&gt;</option>'
        for m in move_targets
    ]
    return {
        "mailbox_links": mark_safe("\n      ".join(links)),  # noqa: S308 - escaped above
        "mailbox_options": mark_safe("".join(options)),  # noqa: S308 - escaped above
        "move_options": mark_safe("".join(moves)),  # noqa: S308 - escaped above
        "can_move": len(moves) > 1,
    }


def _page_number(value: str | None) -> int:
    return int(value) if value and value.isdigit() and 0 < int(value) < 10_000 else 1


def _people(mailbox_ids: list[int]):
    """Who may be chosen as responsible in the inbox: anyone who reads one of them."""
    user_model = get_user_model()
    grants = MailboxGrant.objects.filter(AmongIds(F("mailbox_id"), mailbox_ids))
    return (
        user_model.objects.filter(is_active=True)
        .filter(
            Q(is_superuser=True)
            | Q(pk__in=grants.filter(user__isnull=False).values("user"))
            | Q(groups__in=grants.filter(group__isnull=False).values("group"))
            | Q(pk__in=Mailbox.objects.filter(AmongIds(F("pk"), mailbox_ids)).values("owner"))
        )
        .distinct()
        .order_by("first_name", "last_name", "username")
    )


@login_required
@require_GET
def inbox(request):
    view = request.GET.get("view", inboxes.DEFAULT_VIEW)
    if view not in inboxes.VIEWS:
        view = inboxes.DEFAULT_VIEW
    filters = inboxes.Filters.from_query(request.GET)
    mailboxes = _readable_mailboxes(request.user)
    ids = [m.pk for m in mailboxes]
    if filters.mailbox is not None and filters.mailbox not in ids:
        raise Http404("no such mailbox")
    crm = request.GET.get("crm", "")
    listed = _on_crm(inboxes.conversations(request.user, view, filters, mailbox_ids=ids), crm)
    number = _page_number(request.GET.get("page"))
    start = (number - 1) * PAGE_SIZE
    found = list(listed.only(*ROW_FIELDS)[start : start + PAGE_SIZE + 1])
    people = list(_people(ids).only(*PERSON_FIELDS))
    _attach(found, mailboxes, people)
    rows = _rows(request.user, found[:PAGE_SIZE])
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "view": view,
        "views": [
            (name, label, counts.get(name))
            for counts in [inboxes.counts(request.user, mailbox_ids=ids)]
            for name, label in inboxes.VIEWS.items()
        ],
        "count_cap": inboxes.COUNT_CAP,
        "filters": filters,
        "unanswered_hours": inboxes.UNANSWERED_HOURS,
        "crm": crm,
        "crm_kinds": [(k, label) for k, (label, _) in CRM_KINDS.items()],
        "statuses": Conversation.Status.choices,
        "mailboxes": mailboxes,
        "people": people,
        "rows": rows,
        "rows_html": rows_html(rows),
        "responsible_options": people_options(people, chosen=filters.responsible),
        "assign_options": people_options(people, chosen=request.user.pk),
        "page": number,
        "has_next": len(found) > PAGE_SIZE,
        "query": query.urlencode(),
        "filtered": not filters.is_empty() or crm in CRM_KINDS,
        "snooze_choices": [(k, label) for k, (label, _) in SNOOZE_CHOICES.items()],
        **_mailbox_menus(mailboxes, view, filters.mailbox, [m for m in mailboxes if m.movable]),
        "here": request.get_full_path(),
    }
    return render(request, "web/inbox/inbox.html", context)


def _back(request, default: str) -> str:
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}):
        return target
    return default


def _until(request) -> datetime | None:
    """The snooze's end: a preset (1h, 1d...) or a date and time from the form."""
    choice = request.POST.get("snooze", "")
    if choice in SNOOZE_CHOICES:
        return timezone.now() + SNOOZE_CHOICES[choice][1]
    value = request.POST.get("until", "")
    when = parse_datetime(value) if value else None
    if when is not None and timezone.is_naive(when):
        when = timezone.make_aware(when)
    return when


@dataclass(frozen=True, slots=True)
class ReadableMailbox:
    """A mailbox of the inbox's lists: values, not a Mailbox (an administrator's 200
    Mailbox objects were 2-3 ms of the page)."""

    pk: int
    name: str
    address: str
    movable: bool

    def as_mailbox(self) -> Mailbox:
        """The Mailbox a row's conversation shows, its other fields deferred."""
        known = {"id": self.pk, "name": self.name, "address": self.address}
        fields = [f.attname for f in Mailbox._meta.concrete_fields if f.attname in known]
        return Mailbox.from_db(None, fields, [known[name] for name in fields])


def _readable_mailboxes(user) -> list[ReadableMailbox]:
    """The mailboxes the user reads, by name, each with `movable`: whether it is one of
    _move_targets (a Move target is readable too). One query for the page's mailbox
    lists and its Move menu instead of two."""
    targets = _move_targets(user).filter(pk=OuterRef("pk"))
    readable = mailboxes_for(user).annotate(movable=Exists(targets)).order_by("name")
    return [
        ReadableMailbox(*values)
        for values in readable.values_list("pk", "name", "address", "movable")
    ]


def _move_targets(user):
    """Mailboxes the user may move a conversation into: those they may reply from
    (BCC trackers are no inboxes)."""
    return (
        mailboxes_for(user, MailboxGrant.Level.REPLY)
        .filter(tracker__isnull=True)
        .only("name", "address")
        .order_by("name")
    )


def _chosen_mailbox(request):
    value = request.POST.get("to_mailbox", "")
    if not value.isdigit():
        return None
    return _move_targets(request.user).filter(pk=int(value)).first()


def _chosen_person(request):
    value = request.POST.get("responsible", "")
    if not value.isdigit():
        return None
    return get_user_model().objects.filter(pk=int(value), is_active=True).first()


@login_required
@require_POST
def inbox_bulk(request):
    """Assign, take, close, reopen, mark pending, snooze or move the ticked conversations."""
    action = request.POST.get("action", "")
    if action not in workflow.ACTIONS:
        messages.error(request, "Choose what to do with them.")
        return redirect(_back(request, reverse("web:inbox")))
    ids = [int(v) for v in request.POST.getlist("conversation") if v.isdigit()]
    chosen = list(
        Conversation.objects.select_related("mailbox").filter(
            pk__in=ids, mailbox__in=mailboxes_for(request.user)
        )
    )
    if len(chosen) != len(set(ids)):
        raise Http404("no such conversation")
    replying = set(
        mailboxes_for(request.user, MailboxGrant.Level.REPLY).values_list("pk", flat=True)
    )
    if any(c.mailbox_id not in replying for c in chosen):
        return _refused(request, "Changing a conversation needs the reply right on its mailbox.")
    changed, problems = workflow.do_apply_many(
        chosen,
        action,
        acting_user=request.user,
        responsible=_chosen_person(request),
        until=_until(request),
        to_mailbox=_chosen_mailbox(request),
    )
    for problem in problems:
        messages.error(request, problem)
    messages.success(request, f"{changed} conversation{'s' if changed != 1 else ''} changed.")
    return redirect(_back(request, reverse("web:inbox")))


def _refused(request, reason: str) -> HttpResponse:
    return refused(request, reason)


# ------------------------------------------------------------------- the conversation


def conversation_workflow(user, conversation: Conversation) -> dict:
    """What the conversation page shows of the workflow (its view calls this): the
    controls, who is replying, and the history with comments, oldest first."""
    may_change = (
        mailboxes_for(user, MailboxGrant.Level.REPLY).filter(pk=conversation.mailbox_id).exists()
    )
    events = list(conversation.events.select_related("actor", "user").order_by("created_at", "pk"))
    comments = list(
        conversation.comments.select_related("author")
        .prefetch_related("mentions")
        .order_by("created_at", "pk")
    )
    history = sorted(
        [("event", e.created_at, e) for e in events]
        + [("comment", c.created_at, c) for c in comments]
        + [("auto_reply", a.created_at, a) for a in auto_reply_history(conversation)],
        key=lambda entry: entry[1],
    )
    people = list(workflow.people_for(conversation.mailbox))
    move_targets = (
        [m for m in _move_targets(user) if m.pk != conversation.mailbox_id] if may_change else []
    )
    return {
        "workflow_may_change": may_change,
        "workflow_people": people,
        "workflow_history": history,
        "workflow_replies": [e for e in events if e.kind == ConversationEvent.Kind.REPLIED],
        "workflow_replying": workflow.replying_now(conversation, besides=user),
        "workflow_snooze_choices": [(k, label) for k, (label, _) in SNOOZE_CHOICES.items()],
        "workflow_move_targets": move_targets,
        "workflow_mentionable": [
            {"username": p.username, "name": p.get_full_name() or p.username} for p in people
        ],
    }


@login_required
@require_POST
def conversation_action(request, conversation_id: int):
    """One workflow action on the conversation page (assign, take, close, snooze...)."""
    conversation = get_conversation_for_user(
        request.user, conversation_id, MailboxGrant.Level.REPLY
    )
    action = request.POST.get("action", "")
    try:
        changed = workflow.do_apply(
            conversation,
            action,
            acting_user=request.user,
            responsible=_chosen_person(request),
            until=_until(request),
            to_mailbox=_chosen_mailbox(request),
        )
    except workflow.WorkflowError as exc:
        messages.error(request, str(exc))
    else:
        if not changed:
            messages.info(request, "Nothing changed.")
        elif action == "move":
            messages.success(request, f"Moved to {conversation.mailbox.address}.")
    return redirect(_back(request, reverse("web:conversation", args=[conversation.pk])))


@login_required
@require_POST
def conversation_comment(request, conversation_id: int):
    """An internal comment; anyone who may read the mailbox may comment."""
    conversation = get_conversation_for_user(request.user, conversation_id)
    try:
        comment = workflow.do_comment(
            conversation, request.POST.get("body", ""), author=request.user
        )
    except workflow.WorkflowError as exc:
        messages.error(request, str(exc))
        return redirect("web:conversation", conversation.pk)
    url = reverse("web:conversation", args=[conversation.pk])
    return redirect(f"{url}#comment-{comment.pk}")


@login_required
@require_GET
def conversation_presence(request, conversation_id: int):
    """The "Alice is replying" fragment, polled by the conversation page."""
    conversation = get_conversation_for_user(request.user, conversation_id)
    replying = workflow.replying_now(conversation, besides=request.user)
    return render(request, "web/inbox/presence.html", {"workflow_replying": replying})


@login_required
@require_POST
def conversation_replying(request, conversation_id: int):
    """The reply form's heartbeat ("still writing"), and its goodbye (stop=1)."""
    conversation = get_conversation_for_user(
        request.user, conversation_id, MailboxGrant.Level.REPLY
    )
    if request.POST.get("stop") == "1":
        workflow.do_stop_replying(conversation, request.user)
    else:
        workflow.do_mark_replying(conversation, request.user)
    return JsonResponse({"ok": True, "beat": workflow.PRESENCE_BEAT.total_seconds()})


def own_subject(message, conversation: Conversation) -> str:
    """The email's subject where it differs from the thread's (not only by Re:)."""
    if not message.subject:
        return ""
    if normalize_subject(message.subject) == conversation.normalized_subject:
        return ""
    return message.subject
