"""Saving an email to the CRM by hand and moving it between items (issue 6, rules 4 and 5).

The conversation page shows, per email, a "Save to CRM" panel (a new lead, contact and
deal, smart item of a type, or an existing item) and, for an email on a deal or smart
item, "Move to…" another item of that kind. The forms POST here; the services in
postroom/crm/actions.py decide, and their refusal (no mailbox access, no edit right,
machine, internal or spam mail) is shown on the page in their words, never as a bare 403.

`item_search` is the JSON behind the item pickers (web/crm-picker.js): only items the
user may read, at most SEARCH_LIMIT. Every picker also works without JavaScript: the
"Find" button submits the search to a page that lists the matches in a plain <select>.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET

from postroom.accounts.roles import Action
from postroom.crm import actions
from postroom.crm import items as item_kinds
from postroom.crm.access import CrmPermissionDenied, items_for
from postroom.crm.models import (
    Company,
    Contact,
    Deal,
    Lead,
    SmartItem,
    SmartType,
)
from postroom.crm.text_search import text_filter
from postroom.mail.models import Conversation, ConversationMessage, Message
from postroom.mailboxes.access import mailboxes_for

from .access import get_message_for_user

SEARCH_LIMIT = 20
# What "Save as new…" offers, besides one entry per smart type ("smart:<slug>").
CREATE_CHOICES = [("lead", "New lead"), ("contact-deal", "New contact and deal")]
# Emails move only between items of these kinds (the rule speaks of deals; a smart item
# is a deal of another pipeline).
MOVABLE_KINDS = ("deal", "smart_item")


# ---------------------------------------------------------------------- search


def _reachable(user, model, *, editable: bool) -> QuerySet:
    """Items the user may read (and, with `editable`, also edit)."""
    readable = items_for(user, model)
    if editable:
        readable = readable.filter(pk__in=items_for(user, model, Action.EDIT).values("pk"))
    return readable


@dataclass
class Found:
    item: Model

    @property
    def ref(self) -> str:
        return f"{item_kinds.kind_of(self.item).key}:{self.item.pk}"

    @property
    def label(self) -> str:
        return item_kinds.label_of(self.item)

    @property
    def title(self) -> str:
        return item_kinds.title_of(self.item)

    @property
    def text(self) -> str:
        """What a <select> option shows: "Deal: Big order (Anna Client)"."""
        extra = ""
        if isinstance(self.item, Lead) and self.item.email:
            extra = self.item.email
        elif isinstance(self.item, Contact):
            extra = self.item.primary_email if self.item.name else ""
        elif isinstance(self.item, Deal | SmartItem) and self.item.contact_id:
            extra = str(self.item.contact)
        return f"{self.label}: {self.title}" + (f" ({extra})" if extra else "")

    def as_json(self) -> dict:
        return {
            "ref": self.ref,
            "id": self.item.pk,
            "kind": item_kinds.kind_of(self.item).key,
            "label": self.label,
            "title": self.title,
            "text": self.text,
            "url": item_kinds.url_of(self.item),
        }


def search_items(
    user,
    q: str,
    *,
    kinds: tuple[str, ...] = (),
    smart_type: SmartType | None = None,
    editable: bool = False,
    exclude: Model | None = None,
    limit: int = SEARCH_LIMIT,
) -> list[Found]:
    """Items the user may read whose name, title or email holds `q`, at most `limit`.

    `kinds` narrows to item kinds ("deal", "smart_item", ...; all when empty),
    `smart_type` smart items to one type. Kinds share the limit in turns, so that a
    search for "anna" shows her lead, contact and deals, not twenty leads.
    """
    q = q.strip()
    per_kind: list[list[Model]] = []
    for kind in item_kinds.KINDS:
        if kinds and kind.key not in kinds:
            continue
        model = kind.model
        if model is SmartItem and smart_type is not None:
            queryset = _reachable(user, smart_type, editable=editable)
        else:
            queryset = _reachable(user, model, editable=editable)
        if q:
            queryset = queryset.filter(text_filter(model, q))
        if exclude is not None and type(exclude) is model:
            queryset = queryset.exclude(pk=exclude.pk)
        if model is Contact:
            queryset = queryset.prefetch_related("emails")
        if model in (Deal, SmartItem):
            queryset = queryset.select_related("contact")
        if model is SmartItem:
            queryset = queryset.select_related("smart_type")
        order = "name" if model in (Contact, Company) else "-pk"
        per_kind.append(list(queryset.order_by(order)[:limit]))
    found: list[Found] = []
    while len(found) < limit and any(per_kind):
        for items in per_kind:
            if items and len(found) < limit:
                found.append(Found(items.pop(0)))
    return found


def parse_ref(user, value: str, *, editable: bool = False) -> Model | None:
    """The item a picker's value names ("deal:12"), if the user may read it; else None."""
    key, _, pk = (value or "").partition(":")
    kind = item_kinds.BY_KEY.get(key)
    if kind is None or not pk.isdigit():
        return None
    return _reachable(user, kind.model, editable=editable).filter(pk=pk).first()


@login_required
@require_GET
def item_search(request: HttpRequest) -> JsonResponse:
    """GET ?q=&kind=&type=&edit=1 → {"items": [...]}: items the user may read."""
    kinds = tuple(k for k in request.GET.getlist("kind") if k in item_kinds.BY_KEY)
    smart_type = None
    if slug := request.GET.get("type", ""):
        smart_type = SmartType.objects.filter(slug=slug).first()
        if smart_type is None:
            return JsonResponse({"items": [], "error": f"no smart type {slug!r}"}, status=400)
    found = search_items(
        request.user,
        request.GET.get("q", "")[:200],
        kinds=kinds,
        smart_type=smart_type,
        editable=request.GET.get("edit") == "1",
    )
    return JsonResponse({"items": [f.as_json() for f in found]})


# ------------------------------------------------------------ conversation page


@dataclass
class Picker:
    """One item picker (templates/crm/save_picker.html)."""

    uid: str
    legend: str
    field: str  # the POSTed field: "item" (save) or "target" (move)
    button: str
    candidates: list[Found]
    search_url: str
    source: Found | None = None


def _search_url(**params) -> str:
    query = urlencode({k: v for k, v in params.items() if v}, doseq=True)
    return reverse("web:crm_item_search") + (f"?{query}" if query else "")


def save_picker(message: Message, candidates: list[Found]) -> Picker:
    return Picker(
        uid=f"save-{message.pk}",
        legend="or to an existing item",
        field="item",
        button="Save to this item",
        candidates=candidates,
        search_url=_search_url(),
    )


def move_picker(message: Message, source: Model, candidates: list[Found]) -> Picker:
    kind = item_kinds.kind_of(source).key
    slug = source.smart_type.slug if isinstance(source, SmartItem) else ""
    found = Found(source)
    return Picker(
        uid=f"move-{message.pk}-{kind}-{source.pk}",
        legend=f"Move from {found.label.lower()} “{found.title}” to",
        field="target",
        button="Move",
        candidates=candidates,
        search_url=_search_url(kind=kind, type=slug, edit="1"),
        source=found,
    )


def _counterpart(message: Message) -> str:
    """The address to look items up by: the sender, or for our own mail the first
    recipient (a cheap guess for the picker's first options; the service decides)."""
    return message.from_address or (message.to_addresses or [""])[0]


def annotate_conversation(user, emails) -> dict:
    """What the conversation page needs for its CRM forms.

    Reads each shown email's `message.crm_items` (the items it is on that the user may
    see) and sets `crm_save_picker` (first options: items found by its sender's address)
    and `crm_movable` (a move picker per deal or smart item it is on).
    Returns context for the template: the "Save as new…" choices.
    """
    cache: dict[tuple, list[Found]] = {}

    def cached(key: tuple, make) -> list[Found]:
        if key not in cache:
            cache[key] = make()
        return cache[key]

    for shown in emails:
        message = shown.message
        address = _counterpart(message)
        candidates = (
            cached(("save", address), lambda a=address: search_items(user, a)) if address else []
        )
        message.crm_save_picker = save_picker(message, candidates)
        movable = []
        for item in getattr(message, "crm_items", []):
            if item_kinds.kind_of(item).key not in MOVABLE_KINDS:
                continue
            smart_type = item.smart_type if isinstance(item, SmartItem) else None
            key = ("move", address, type(item), smart_type and smart_type.pk, item.pk)
            candidates = cached(
                key,
                lambda a=address, i=item, t=smart_type: _move_candidates(user, a, i, t),
            )
            movable.append(move_picker(message, item, candidates))
        message.crm_movable = movable
    return {"crm_create_choices": create_choices()}


def _move_candidates(user, address: str, item: Model, smart_type) -> list[Found]:
    """Editable items of the item's kind: first those of the same person, else any."""
    kind = (item_kinds.kind_of(item).key,)
    same = search_items(
        user, address, kinds=kind, smart_type=smart_type, editable=True, exclude=item
    )
    return same or search_items(
        user, "", kinds=kind, smart_type=smart_type, editable=True, exclude=item
    )


def create_choices() -> list[tuple[str, str]]:
    smart = [(f"smart:{t.slug}", f"New “{t.name}”") for t in SmartType.objects.order_by("name")]
    return CREATE_CHOICES + smart


# ------------------------------------------------------------------ save, move


def _conversation_url(user, request: HttpRequest, message: Message) -> str | None:
    """Where to go back to: the posted conversation if the user may read it and it
    holds the message; else None."""
    value = request.POST.get("conversation") or request.GET.get("conversation") or ""
    if not value.isdigit():
        return None
    conversation = (
        Conversation.objects.filter(pk=value, mailbox__in=mailboxes_for(user)).only("pk").first()
    )
    if conversation is None:
        return None
    if not ConversationMessage.objects.filter(conversation=conversation, message=message).exists():
        return None
    return reverse("web:conversation", args=[conversation.pk]) + f"#message-{message.pk}"


def _refused(request, message: Message, reason: str, page: str, context: dict) -> HttpResponse:
    """Back to the conversation with the reason; without one, the form page with it."""
    back = _conversation_url(request.user, request, message)
    if back:
        messages.error(request, reason)
        return redirect(back)
    return render(request, page, {**context, "error": reason}, status=400)


def _page_context(request, message: Message) -> dict:
    q = request.GET.get("q", "")[:200] if request.method == "GET" else ""
    return {
        "message": message,
        "conversation_id": request.POST.get("conversation") or request.GET.get("conversation"),
        "q": q,
    }


@login_required
def save_to_crm(request: HttpRequest, message_id: int) -> HttpResponse:
    """GET: the save form (the no-script picker: ?q= lists matching items).
    POST create=lead|contact-deal|smart:SLUG or item=KIND:ID: save the email."""
    if request.method != "POST":
        message = get_message_for_user(request.user, message_id)
        context = _page_context(request, message)
        q = context["q"]
        found = search_items(request.user, q or _counterpart(message))
        context["picker"] = save_picker(message, found)
        context["create_choices"] = create_choices()
        return render(request, "crm/save_page.html", context)
    # A message the user may not read: the service says why (no mailbox access).
    message = get_object_or_404(Message, pk=message_id)
    context = {"message": None}
    create = request.POST.get("create", "")
    item = None
    if value := request.POST.get("item", ""):
        item = parse_ref(request.user, value)
        if item is None:
            return _refused(
                request,
                message,
                "That CRM item is not there, or you may not see it: choose another.",
                "crm/save_page.html",
                context,
            )
    if not create and item is None:
        return _refused(
            request,
            message,
            "Choose what to create, or an existing item to save the email to.",
            "crm/save_page.html",
            context,
        )
    try:
        bound = actions.do_save_to_crm(
            message, request.user, item=item, create="" if item else create
        )
    except CrmPermissionDenied as exc:
        return _refused(request, message, exc.reason, "crm/save_page.html", context)
    except actions.CrmError as exc:
        return _refused(request, message, _sentence(str(exc)), "crm/save_page.html", context)
    first = Found(bound[0])
    messages.success(request, f"Saved to the CRM: {first.label.lower()} “{first.title}”.")
    return redirect(
        _conversation_url(request.user, request, message) or item_kinds.url_of(bound[0])
    )


@login_required
def move_email(request: HttpRequest, message_id: int) -> HttpResponse:
    """GET ?source=deal:12: the move form (?q= lists matching items without script).
    POST source=KIND:ID, target=KIND:ID: move the email from one item to the other."""
    user = request.user
    if request.method != "POST":
        message = get_message_for_user(user, message_id)
        source = parse_ref(user, request.GET.get("source", ""))
        if source is None or item_kinds.kind_of(source).key not in MOVABLE_KINDS:
            return render(
                request,
                "crm/save_move.html",
                {"message": message, "error": "Choose a deal or smart item the email is on."},
                status=400,
            )
        context = _page_context(request, message)
        smart_type = source.smart_type if isinstance(source, SmartItem) else None
        kind = (item_kinds.kind_of(source).key,)
        found = (
            search_items(
                user,
                context["q"],
                kinds=kind,
                smart_type=smart_type,
                editable=True,
                exclude=source,
            )  # fmt: skip
            if context["q"]
            else _move_candidates(user, _counterpart(message), source, smart_type)
        )
        context["picker"] = move_picker(message, source, found)
        return render(request, "crm/save_move.html", context)
    # As the form's GET: an email of no mailbox the user may read is not there for them.
    message = get_message_for_user(user, message_id)
    context = {"message": None}
    source = parse_ref(user, request.POST.get("source", ""))
    target = parse_ref(user, request.POST.get("target", ""))
    if source is None or target is None:
        reason = "That CRM item is not there, or you may not see it: choose another."
        return _refused(request, message, reason, "crm/save_move.html", context)
    try:
        moved = actions.do_move_email(message, source, target, user=user)
    except CrmPermissionDenied as exc:
        return _refused(request, message, exc.reason, "crm/save_move.html", context)
    except actions.CrmError as exc:
        return _refused(request, message, _sentence(str(exc)), "crm/save_move.html", context)
    if not moved:
        reason = f"The email is not on “{item_kinds.title_of(source)}” any more: nothing moved."
        return _refused(request, message, reason, "crm/save_move.html", context)
    found = Found(target)
    messages.success(request, f"Moved to {found.label.lower()} “{found.title}”.")
    return redirect(_conversation_url(user, request, message) or item_kinds.url_of(target))


def _sentence(text: str) -> str:
    """A service's error as a sentence: capitalised, with a full stop."""
    text = text.strip()
    if not text:
        return "That did not work."
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."
