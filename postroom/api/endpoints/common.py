"""What the endpoints share: the caller, references to CRM items, list pages."""

from __future__ import annotations

from typing import Generic, TypeVar

from django.db.models import Model
from ninja import Schema
from pydantic import Field

from postroom.crm.items import BY_KEY, kind_of, label_of, title_of

from ..errors import ApiError

T = TypeVar("T")


def caller(request):
    """The user the request acts for (the token's owner, or the session's user)."""
    return request.auth


class Page(Schema, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(None, description="pass as `cursor` for the next page")


class ItemRef(Schema):
    kind: str = Field(..., description="lead, contact, company, deal or smart_item")
    id: int
    title: str
    label: str


def item_ref(item: Model) -> ItemRef:
    return ItemRef(kind=kind_of(item).key, id=item.pk, title=title_of(item), label=label_of(item))


def item_model(kind: str):
    try:
        return BY_KEY[kind].model
    except KeyError:
        raise ApiError(
            422,
            f"unknown CRM kind {kind!r}; one of {', '.join(BY_KEY)}",
            code="invalid",
            field="kind",
        ) from None


class Ok(Schema):
    changed: bool
