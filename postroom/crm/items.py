"""The CRM's item kinds, listed once, so that UI and permissions can treat items alike.

An item is a Lead, Contact, Company, Deal or SmartItem: each has a responsible person,
a timeline (TimelineEntry by content type and id) and a page (`url_name`, one id arg).
"""

from dataclasses import dataclass

from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.urls import reverse

from .models import Company, Contact, Deal, Lead, SmartItem


@dataclass(frozen=True)
class ItemKind:
    key: str  # "lead", "contact", "company", "deal", "smart_item"
    model: type[models.Model]
    label: str
    label_plural: str
    url_name: str  # "web:<key>", taking the item's id
    title_field: str  # the field holding the item's title


KINDS: tuple[ItemKind, ...] = (
    ItemKind("lead", Lead, "Lead", "Leads", "web:lead", "title"),
    ItemKind("contact", Contact, "Contact", "Contacts", "web:contact", "name"),
    ItemKind("company", Company, "Company", "Companies", "web:company", "name"),
    ItemKind("deal", Deal, "Deal", "Deals", "web:deal", "title"),
    ItemKind("smart_item", SmartItem, "Smart item", "Smart items", "web:smart_item", "title"),
)
BY_KEY: dict[str, ItemKind] = {kind.key: kind for kind in KINDS}
_BY_MODEL: dict[type[models.Model], ItemKind] = {kind.model: kind for kind in KINDS}
ITEM_MODELS: tuple[type[models.Model], ...] = tuple(_BY_MODEL)


def is_item(obj: object) -> bool:
    return type(obj) in _BY_MODEL


def kind_of(item: models.Model | type[models.Model]) -> ItemKind:
    """The kind of an item (or of an item model); KeyError for anything else."""
    model = item if isinstance(item, type) else type(item)
    return _BY_MODEL[model]


def title_of(item: models.Model) -> str:
    kind = kind_of(item)
    title = getattr(item, kind.title_field)
    if not title and isinstance(item, Contact):
        return str(item)
    return title


def responsible_of(item: models.Model):
    """The item's responsible user, or None."""
    return item.responsible


def url_of(item: models.Model) -> str:
    return reverse(kind_of(item).url_name, args=[item.pk])


def label_of(item: models.Model) -> str:
    """For a smart item the name of its type ("Support Request"), else the kind's label."""
    if isinstance(item, SmartItem):
        return item.smart_type.name
    return kind_of(item).label


def content_type_of(item: models.Model | type[models.Model]) -> ContentType:
    return ContentType.objects.get_for_model(item)


def item_from(content_type_id: int, object_id: int) -> models.Model | None:
    """The item a (content type, id) pair names, or None when gone or not an item."""
    model = ContentType.objects.get_for_id(content_type_id).model_class()
    if model not in _BY_MODEL:
        return None
    return model.objects.filter(pk=object_id).first()


def key_of(item: models.Model) -> tuple[str, int]:
    """A hashable identity of an item: ("deal", 7)."""
    return kind_of(item).key, item.pk
