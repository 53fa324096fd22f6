"""What an item page's timeline shows to one user.

The item itself is readable (the view checked). A contact's and a company's page also
show the entries of their deals and smart items the user may read, so that a deal's
progress is seen from its customer; an email bound to several of them is shown once.
An email's text and its conversation link appear only when the user may read a
mailbox holding it; otherwise its subject and direction alone.
"""

from dataclasses import dataclass
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.db.models import Case, Exists, OuterRef, Q, Subquery, Value, When
from django.db.models.functions import Substr

from postroom.crm import items as item_kinds
from postroom.crm.access import items_for
from postroom.crm.models import Company, Contact, Deal, SmartItem, TimelineEntry
from postroom.lib.text import preview
from postroom.mail.bounds import visible_text
from postroom.mail.models import ConversationMessage, Message, MessageCopy
from postroom.mail.workflow import reply_waits
from postroom.mailboxes.access import mailboxes_for
from postroom.tracking.display import read_states

from .links import url_maker

# The page shows the newest entries; an item with years of mail stays fast.
TIMELINE_LIMIT = 200
SNIPPET_CHARS = 400
SNIPPET_LINES = 8  # an email's start as written: its lines, not one run-on line
# How much of an HTML-only email is read for its snippet: past a long head or style
# block, yet bounded, so that a timeline of 200 large emails stays cheap.
SNIPPET_HTML_CHARS = 64_000
# What the timeline shows of an email and of a person (crm/item_detail.html); their other
# columns are not read: 200 emails' whole bodies, addresses and times were most of the
# query's bytes and of the objects' making. An email's body is read only as far as its
# snippet needs (_shown). A field the template starts to show must be added here, else
# each row reads it with a query of its own (test_crm_timeline_queries.py counts them).
MESSAGE_SHOWN = ("id", "from_name", "from_address")
PERSON_SHOWN = ("id", "username", "first_name", "last_name", "is_active")
PEOPLE = ("activity__responsible", "author", "task__responsible")


@dataclass(frozen=True)
class TimelineRow:
    entry: TimelineEntry
    # Set when the entry belongs to a related item (a contact's deal), not the item itself.
    on_label: str = ""
    on_title: str = ""
    on_url: str = ""
    email_readable: bool = False
    snippet: str = ""
    conversation_id: int | None = None
    conversation_url: str = ""
    # An outgoing email's reply history: how long the customer had waited for it.
    waited_seconds: int | None = None
    # An outgoing tracked email's "Read" state (postroom.tracking.display.ReadState).
    read: object = None


SAME_EVENT = timedelta(seconds=5)
CONVERTED = "Converted from the lead"


def related_items(user, item: models.Model) -> list[models.Model]:
    """The deals and smart items of a contact or a company the user may read (200 of
    each, newest first): their entries are on its timeline, and its page lists them."""
    if isinstance(item, Contact):
        related = [items_for(user, Deal).filter(contact=item)]
        related.append(items_for(user, SmartItem).filter(contact=item))
    elif isinstance(item, Company):
        related = [
            items_for(user, Deal).filter(company=item),
            items_for(user, SmartItem).filter(company=item),
        ]
    else:
        return []
    found: list[models.Model] = []
    for queryset in related:
        found.extend(queryset.select_related(*_titles(queryset.model))[:200])
    return found


def _titles(model) -> tuple[str, ...]:
    return ("smart_type",) if model is SmartItem else ()


def _same_event(one: TimelineEntry, other: TimelineEntry) -> bool:
    """The same conversion recorded on two of its items (crm.actions.do_convert_lead)."""
    return (
        one.text.startswith(CONVERTED)
        and one.text == other.text
        and abs(one.occurred_at - other.occurred_at) <= SAME_EVENT
    )


def _unshown(model, shown: tuple[str, ...], path: str) -> list[str]:
    return [f"{path}__{f.name}" for f in model._meta.concrete_fields if f.name not in shown]


def _shown(entries):
    """The entries with the columns the page shows, and the start of their email's text
    part (`text_start`) or, for an email without one, of its HTML part (`html_start`),
    cut in the database: a snippet needs the body's start, not all of a long body's words."""
    text = "activity__message__text_body"
    unshown = _unshown(Message, MESSAGE_SHOWN, "activity__message")
    for path in PEOPLE:
        unshown += _unshown(get_user_model(), PERSON_SHOWN, path)
    return entries.defer(*unshown).annotate(
        text_start=Substr(text, 1, SNIPPET_CHARS * 4),
        html_start=Case(
            When(**{text: ""}, then=Substr("activity__message__html_body", 1, SNIPPET_HTML_CHARS)),
            default=Value(""),
        ),
    )


def _start_of_body(entry: TimelineEntry) -> str:
    """The start of an email's text, its lines kept: the text part, else the visible
    text of the HTML part (an HTML-only email had an empty snippet)."""
    if entry.text_start:
        return entry.text_start
    return visible_text(entry.html_start or "")


def timeline_for(
    user, item: models.Model, related: list[models.Model] | None = None
) -> list[TimelineRow]:
    """`related`: related_items(user, item), when the page has read them already."""
    own_type = ContentType.objects.get_for_model(item)
    related = related_items(user, item) if related is None else related
    where = Q(content_type=own_type, object_id=item.pk)
    by_key: dict[tuple[int, int], models.Model] = {}
    for other in related:
        content_type = ContentType.objects.get_for_model(other)
        by_key[(content_type.pk, other.pk)] = other
    for content_type_id in {key[0] for key in by_key}:
        ids = [key[1] for key in by_key if key[0] == content_type_id]
        where |= Q(content_type_id=content_type_id, object_id__in=ids)
    # Whether a mailbox the user reads holds each email (the rule of crm.access
    # readable_message_ids and of get_message_for_user), and its conversation there, in
    # the same statement: two round trips fewer on every item page.
    readable_mailboxes = mailboxes_for(user)
    message = OuterRef("activity__message_id")
    copies = MessageCopy.objects.filter(message_id=message, mailbox__in=readable_mailboxes)
    links = ConversationMessage.objects.filter(
        message_id=message, mailbox__in=readable_mailboxes
    ).values("conversation_id")[:1]
    entries = list(
        _shown(
            TimelineEntry.objects.filter(where).select_related(
                "activity__message", "activity__responsible", "author", "task__responsible"
            )
        )
        .annotate(message_readable=Exists(copies), message_conversation=Subquery(links))
        .order_by("-occurred_at", "-pk")[:TIMELINE_LIMIT]
    )
    # One email once: prefer the item's own entry over a related item's.
    own_activities = {
        e.activity_id for e in entries if e.activity_id and e.content_type_id == own_type.pk
    }
    # One conversion once: converting a lead makes the contact and its deal (and company)
    # in one go, each with the same "Converted from the lead" line; the item's own is
    # kept. Same words within seconds of each other: the same event (two deals made by
    # hand, both "Created", minutes apart, stay two).
    created: list[TimelineEntry] = [
        e
        for e in entries
        if e.kind == TimelineEntry.Kind.CREATED and e.content_type_id == own_type.pk
    ]
    seen: set[int] = set()
    kept: list[TimelineEntry] = []
    for entry in entries:
        if entry.kind == TimelineEntry.Kind.CREATED and entry.content_type_id != own_type.pk:
            if any(_same_event(entry, other) for other in created):
                continue
            created.append(entry)
        if entry.activity_id:
            if entry.activity_id in seen or (
                entry.content_type_id != own_type.pk and entry.activity_id in own_activities
            ):
                continue
            seen.add(entry.activity_id)
        kept.append(entry)

    readable = {
        e.activity.message_id
        for e in kept
        if e.activity and e.activity.message_id and e.message_readable
    }
    conversations = {
        e.activity.message_id: e.message_conversation
        for e in kept
        if e.activity and e.activity.message_id in readable and e.message_conversation
    }
    # Only a sent email has a reply wait (the page shows it on outgoing ones alone).
    waits = reply_waits(
        {e.activity.message_id for e in kept if e.activity and e.activity.direction == "out"}
        & readable
    )
    reads = read_states(readable)
    conversation_url = url_maker("web:conversation")
    rows = []
    for entry in kept:
        on = {}
        if entry.content_type_id != own_type.pk or entry.object_id != item.pk:
            other = by_key.get((entry.content_type_id, entry.object_id))
            if other is not None:
                on = {
                    "on_label": item_kinds.label_of(other),
                    "on_title": item_kinds.title_of(other),
                    "on_url": item_kinds.url_of(other),
                }
        message = entry.activity.message if entry.activity else None
        if message is not None and message.pk in readable:
            snippet = preview(_start_of_body(entry), SNIPPET_CHARS, SNIPPET_LINES)
            conversation_id = conversations.get(message.pk)
            rows.append(
                TimelineRow(
                    entry,
                    email_readable=True,
                    snippet=snippet,
                    conversation_id=conversation_id,
                    conversation_url=conversation_url(conversation_id) if conversation_id else "",
                    waited_seconds=waits.get(message.pk),
                    read=reads.get(message.pk),
                    **on,
                )
            )
        else:
            rows.append(TimelineRow(entry, **on))
    return rows
