"""Which CRM items a user may read, create, edit and delete: roles applied to items.

A user's roles (postroom/accounts/roles.py) give, per entity ("lead", "contact",
"company", "deal", "smart:<slug>") and action (read, create, edit, delete), a scope:

- none: nothing;
- own: items the user is responsible for;
- department: items whose responsible person is in a department the user belongs to
  or heads (the user included);
- all: every item, also those without a responsible person.

Administrators (is_superuser) may do everything; a user without roles, nothing. Editing
or deleting needs the read right as well: nobody changes what they cannot see.

Mail is separate: an email on an item's timeline shows to whoever may read the item,
its body (and attachments) only to whoever may read a mailbox holding a copy
(`timeline_for`), the same rule as postroom/web/access.py get_message_for_user.

Views call `items_for` for lists and lookups (an unreadable item is then a 404),
`can_*` for buttons, and `why_not(user, action, item)` for the reason of a 403;
services call `check_edit(user, item)` (or `check`), which raises CrmPermissionDenied.
"""

from __future__ import annotations

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied
from django.db.models import Model, Q, QuerySet

from postroom.accounts.roles import (
    Action,
    Scope,
    colleague_ids,
    departments_of,
    rights_of,
    scope_of,
)
from postroom.mail.models import MessageCopy
from postroom.mailboxes.access import mailboxes_for

from .items import ITEM_MODELS, kind_of, label_of, title_of
from .models import Company, Contact, Deal, Lead, SmartItem, SmartType, TimelineEntry
from .timeline import timeline_of

_ENTITY_OF_MODEL: dict[type[Model], str] = {
    Lead: "lead",
    Contact: "contact",
    Company: "company",
    Deal: "deal",
}
_PLURAL = {"lead": "leads", "contact": "contacts", "company": "companies", "deal": "deals"}
_VERB = {"read": "seeing", "create": "creating", "edit": "editing", "delete": "deleting"}
_SLUGS_CACHE = "_postroom_smart_slugs"


class CrmPermissionDenied(PermissionDenied):
    """Refused, with a reason to show the user (str(exc))."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason

    def __str__(self) -> str:
        return self.reason


def check_admin(user, what: str) -> None:
    """CrmPermissionDenied unless `user` is an administrator; `what` names the action,
    e.g. "define pipelines", for the message."""
    if not (user and user.is_superuser):
        raise CrmPermissionDenied(f"Only an administrator may {what}.")


# ----------------------------------------------------------------------- entities


def _smart_slug(user, smart_type_id: int) -> str:
    """A smart type's slug, from a per-user cache: a list page asks for it per row."""
    slugs = getattr(user, _SLUGS_CACHE, None)
    if slugs is None or smart_type_id not in slugs:
        slugs = dict(SmartType.objects.values_list("pk", "slug"))
        if user is not None:
            setattr(user, _SLUGS_CACHE, slugs)
    return slugs.get(smart_type_id, "")


def entity_of(item_or_model, user=None) -> str:
    """The role entity of an item, an item model or a SmartType: "deal", "smart:support"."""
    if isinstance(item_or_model, SmartType):
        return f"smart:{item_or_model.slug}"
    if isinstance(item_or_model, SmartItem):
        if "smart_type" in item_or_model._state.fields_cache:
            return f"smart:{item_or_model.smart_type.slug}"
        return f"smart:{_smart_slug(user, item_or_model.smart_type_id)}"
    model = item_or_model if isinstance(item_or_model, type) else type(item_or_model)
    if model is SmartItem:
        return "smart:*"
    try:
        return _ENTITY_OF_MODEL[model]
    except KeyError:
        raise TypeError(f"{model.__name__} is not a CRM item kind") from None


def _entity_plural(entity: str, item_or_model) -> str:
    if entity in _PLURAL:
        return _PLURAL[entity]
    smart_type = None
    if isinstance(item_or_model, SmartType):
        smart_type = item_or_model
    elif isinstance(item_or_model, SmartItem):
        smart_type = item_or_model.smart_type
    return f"“{smart_type.name}” items" if smart_type else "smart items"


# ----------------------------------------------------------------------- querysets


def _scope_q(user, scope: int) -> Q | None:
    """The items a scope reaches, as a filter; None for no items at all."""
    if scope == Scope.ALL:
        return Q()
    if scope == Scope.DEPARTMENT:
        return Q(responsible_id__in=sorted(colleague_ids(user)))
    if scope == Scope.OWN:
        return Q(responsible_id=user.pk)
    return None


def items_for(user, model, action: str = Action.READ) -> QuerySet:
    """The items the user may `action` (read by default).

    `model` is Lead, Contact, Company, Deal, SmartItem (items of every smart type, each
    by its own right) or a SmartType (that type's items).
    """
    if isinstance(model, SmartType):
        base = SmartItem.objects.filter(smart_type=model)
        q = _scope_q(user, scope_of(user, entity_of(model), action))
        return base.none() if q is None else base.filter(q)
    if model not in ITEM_MODELS:
        raise TypeError(f"{model!r} is not a CRM item model or a SmartType")
    if not user.is_authenticated or not user.is_active:
        return model.objects.none()
    if user.is_superuser:
        return model.objects.all()
    if model is SmartItem:
        per_type = Q(pk__in=[])
        for smart_type in SmartType.objects.all():
            q = _scope_q(user, scope_of(user, entity_of(smart_type), action))
            if q is not None:
                per_type |= Q(smart_type=smart_type) & q
        return model.objects.filter(per_type)
    q = _scope_q(user, scope_of(user, entity_of(model), action))
    return model.objects.none() if q is None else model.objects.filter(q)


def leads_for(user) -> QuerySet[Lead]:
    """The leads the user may read (kept for the views that list leads)."""
    return items_for(user, Lead)


# ----------------------------------------------------------------------- one item


def _reaches(user, scope: int, item: Model) -> bool:
    responsible_id = getattr(item, "responsible_id", None)
    if scope == Scope.ALL:
        return True
    if scope == Scope.DEPARTMENT:
        return responsible_id is not None and responsible_id in colleague_ids(user)
    if scope == Scope.OWN:
        return responsible_id is not None and responsible_id == user.pk
    return False


def _allowed(user, action: str, item: Model) -> bool:
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    if user.is_superuser:
        return True
    entity = entity_of(item, user)
    if not _reaches(user, scope_of(user, entity, action), item):
        return False
    # Changing needs seeing: a role that edits wider than it reads edits what it reads.
    return action == Action.READ or _reaches(user, scope_of(user, entity, Action.READ), item)


def can_read(user, item: Model) -> bool:
    return _allowed(user, Action.READ, item)


def can_edit(user, item: Model) -> bool:
    """May the user change this CRM item (fields, stage, bind or move email, convert)?"""
    return _allowed(user, Action.EDIT, item)


def can_delete(user, item: Model) -> bool:
    return _allowed(user, Action.DELETE, item)


def can_create(user, model) -> bool:
    """May the user create items of `model` (an item model or a SmartType)?

    For SmartItem itself: of at least one smart type.
    """
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    if user.is_superuser:
        return True
    if model is SmartItem:
        return any(can_create(user, t) for t in SmartType.objects.all())
    return scope_of(user, entity_of(model), Action.CREATE) > Scope.NONE


def why_not(user, action: str, item_or_model) -> str:
    """Why the user may not `action` the item (or create items of the model); "" if they may.

    Written for the person refused: names their roles and what those allow, and names
    an item's responsible person only to someone who may read the item.
    """
    action = Action(action)
    if action == Action.CREATE:
        allowed = can_create(user, item_or_model)
    elif isinstance(item_or_model, type | SmartType):
        raise TypeError("why_not needs an item for read, edit and delete")
    else:
        allowed = _allowed(user, action, item_or_model)
    if allowed:
        return ""
    if user is None or not user.is_authenticated:
        return "Log in first."
    if not user.is_active:
        return "Your account is deactivated."
    entity = entity_of(item_or_model, user)
    plural = _entity_plural(entity, item_or_model)
    verb = _VERB[action]
    rights = rights_of(user)
    if not rights.role_names:
        return (
            f"You may not {action} {plural}: you have no CRM role yet. "
            "An administrator gives roles on the Roles page."
        )
    roles = ", ".join(rights.role_names)
    who = "Your role" if len(rights.role_names) == 1 else "Your roles"
    allow = "allows" if len(rights.role_names) == 1 else "allow"
    if action == Action.CREATE:
        return f"{who} ({roles}) {allow} no {verb} of {plural}."
    scope = scope_of(user, entity, action)
    readable = can_read(user, item_or_model)
    if action != Action.READ and _reaches(user, scope, item_or_model) and not readable:
        return why_not(user, Action.READ, item_or_model)
    if scope == Scope.NONE:
        return f"{who} ({roles}) {allow} no {verb} of {plural}."
    label = label_of(item_or_model).lower()
    this = f"the {label} “{title_of(item_or_model)}”" if readable else f"this {label}"
    owner = ""
    if readable:
        responsible = getattr(item_or_model, "responsible", None)
        owner = f"; {responsible or 'nobody'} is responsible for it"
    if scope == Scope.OWN:
        reach = f"only {plural} you are responsible for"
    else:
        names = ", ".join(departments_of(user).values_list("name", flat=True))
        reach = (
            f"only {plural} of people in your department ({names})"
            if names
            else f"only {plural} you are responsible for, as you are in no department"
        )
    return f"You may not {action} {this}: {who.lower()} ({roles}) {allow} {verb} {reach}{owner}."


def check(user, action: str, item_or_model) -> None:
    """Raise CrmPermissionDenied, with the reason, unless the user may do it."""
    reason = why_not(user, action, item_or_model)
    if reason:
        raise CrmPermissionDenied(reason)


def check_edit(user, item: Model) -> None:
    """Raise CrmPermissionDenied unless the user may edit the item."""
    check(user, Action.EDIT, item)


# ----------------------------------------------------------------------- timeline and mail


def readable_message_ids(user, message_ids) -> set[int]:
    """Of these messages, those a mailbox the user may read holds a copy of.

    The rule of postroom/web/access.py get_message_for_user, for many messages at once.
    """
    ids = [pk for pk in message_ids if pk is not None]
    if not ids or not user.is_authenticated:
        return set()
    return set(
        MessageCopy.objects.filter(message_id__in=ids, mailbox__in=mailboxes_for(user))
        .values_list("message_id", flat=True)
        .distinct()
    )


def timeline_for(user, item: Model) -> list[TimelineEntry]:
    """The item's timeline as the user may see it, newest first.

    Empty unless the user may read the item. Each entry gets `body_visible`: False for
    an email no mailbox the user may read holds (a personal mailbox's mail, another
    team's mailbox), whose subject and direction show but whose body, snippet and
    attachments must not.
    """
    if not can_read(user, item):
        return []
    entries = list(timeline_of(item))
    message_ids = {e.activity.message_id for e in entries if e.activity_id and e.activity}
    readable = readable_message_ids(user, message_ids)
    for entry in entries:
        message_id = entry.activity.message_id if entry.activity_id and entry.activity else None
        entry.body_visible = message_id is None or message_id in readable
    return entries


def items_of_messages(user, message_ids) -> dict[int, list[Model]]:
    """For each email, the CRM items it is bound to that the user may read.

    For a conversation page: one query for the bindings and one per item kind, however
    many emails. An email on no readable item is absent from the result.
    """
    ids = [pk for pk in message_ids if pk is not None]
    if not ids or not user.is_authenticated:
        return {}
    bindings = list(
        TimelineEntry.objects.filter(
            activity__message_id__in=ids, activity__isnull=False
        ).values_list("activity__message_id", "content_type_id", "object_id")
    )
    by_type: dict[int, set[int]] = {}
    for _, content_type_id, object_id in bindings:
        by_type.setdefault(content_type_id, set()).add(object_id)
    readable: dict[tuple[int, int], Model] = {}
    for content_type_id, object_ids in by_type.items():
        model = ContentType.objects.get_for_id(content_type_id).model_class()
        if model not in ITEM_MODELS:
            continue
        queryset = items_for(user, model).filter(pk__in=sorted(object_ids))
        if model is SmartItem:
            queryset = queryset.select_related("smart_type")
        for item in queryset:
            readable[(content_type_id, item.pk)] = item
    found: dict[int, list[Model]] = {}
    for message_id, content_type_id, object_id in bindings:
        item = readable.get((content_type_id, object_id))
        if item is not None:
            found.setdefault(message_id, []).append(item)
    return {
        message_id: sorted(items, key=lambda i: (kind_of(i).key, i.pk))
        for message_id, items in found.items()
    }


def items_of_message(user, message) -> list[Model]:
    """The CRM items an email is bound to that the user may read."""
    return items_of_messages(user, [message.pk]).get(message.pk, [])


def responsibles_visible_to(user) -> QuerySet:
    """The people whose CRM work the user may filter mail by (search's "Responsible").

    Filtering mail by a responsible person tells which emails sit on that person's leads,
    contacts and companies (postroom/mail/search.py _responsible_messages), so it is
    offered only for people all of whose such items the user may read: everyone for a
    reach of "all" on those entities, the department's people for "department", the
    user alone for "own", nobody without the right.
    """
    from postroom.accounts.people import active_people

    people = active_people()
    if not user.is_authenticated or not user.is_active:
        return people.none()
    if user.is_superuser:
        return people
    scope = min(scope_of(user, entity, Action.READ) for entity in ("lead", "contact", "company"))
    if scope == Scope.ALL:
        return people
    if scope == Scope.DEPARTMENT:
        return people.filter(pk__in=sorted(colleague_ids(user)))
    if scope == Scope.OWN:
        return people.filter(pk=user.pk)
    return people.none()
