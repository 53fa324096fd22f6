"""Placeholders in templates, signatures and emails: {contact_name}, {deal_title},
{responsible_name}, {mailbox_name}.

They are resolved when the email is sent, from the CRM item of its conversation (empty
where there is none). A placeholder that is not one of these is an error shown to the
sender, never sent as typed. Quoted mail (inside a blockquote, or '> ' lines) is left
alone: a customer's "{id}" in the quote is not ours to resolve.
"""

import html
import logging
import re
from collections.abc import Mapping

from django.db.models import Model

from postroom.mail.models import Conversation
from postroom.mailboxes.models import Mailbox

from .richtext import split_quotes

logger = logging.getLogger(__name__)

NAMES = ("contact_name", "deal_title", "responsible_name", "mailbox_name")
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


class PlaceholderError(ValueError):
    """Placeholders that Postroom does not know; the message names them."""

    def __init__(self, unknown: list[str]) -> None:
        self.unknown = unknown
        names = ", ".join(f"{{{name}}}" for name in unknown)
        known = ", ".join(f"{{{name}}}" for name in NAMES)
        super().__init__(f"unknown placeholder {names}; known are {known}")


def found_in(text: str) -> set[str]:
    """Every {name} in a text, known or not."""
    return set(_PLACEHOLDER.findall(text or ""))


def unknown_in(*texts: str, literal: frozenset[str] = frozenset()) -> list[str]:
    """Placeholders in the sender's own words (quotes left out) that are not NAMES;
    `literal` ones are text that came from elsewhere (the subject answered)."""
    found: dict[str, None] = {}
    for text in texts:
        for segment, quoted in split_quotes(text or ""):
            if quoted:
                continue
            for line in segment.split("\n"):
                if line.lstrip().startswith(">"):
                    continue  # a quoted line of a plain-text body
                for name in _PLACEHOLDER.findall(line):
                    if name not in NAMES and name not in literal:
                        found[name] = None
    return list(found)


def check(*texts: str, literal: frozenset[str] = frozenset()) -> None:
    if unknown := unknown_in(*texts, literal=literal):
        raise PlaceholderError(unknown)


def render(
    text: str, values: Mapping[str, str], *, is_html: bool, literal: frozenset[str] = frozenset()
) -> str:
    """The text with known placeholders replaced (values HTML-escaped in HTML); raises
    PlaceholderError for unknown ones, except `literal` ones, kept as written. Quoted
    parts are kept as they are."""
    check(text, literal=literal)

    def fill(segment: str) -> str:
        def one(found: re.Match) -> str:
            if found.group(1) not in values:
                return found.group(0)  # a literal
            value = values.get(found.group(1), "")
            return html.escape(value) if is_html else value

        lines = segment.split("\n")
        return "\n".join(
            line if line.lstrip().startswith(">") else _PLACEHOLDER.sub(one, line) for line in lines
        )

    return "".join(
        segment if quoted else fill(segment) for segment, quoted in split_quotes(text or "")
    )


def _person(user) -> str:
    if user is None:
        return ""
    return user.get_full_name() or user.get_username()


def _kind(item: Model) -> str:
    return item._meta.model_name


def conversation_items(conversation: Conversation | None) -> list[Model]:
    """The CRM items the conversation's emails are on, newest email first.

    Read through the Activity of each email and its timeline entries: the one link
    between mail and CRM that every kind of item (lead, contact, deal, ...) shares.
    """
    if conversation is None:
        return []
    from postroom.crm.models import Activity

    items: dict[tuple[str, int], Model] = {}
    messages = conversation.messages.order_by("-date", "-created_at").values_list("pk", flat=True)
    activities = Activity.objects.filter(message_id__in=list(messages[:200]))
    for activity in activities.prefetch_related("entries"):
        for entry in activity.entries.all():
            item = entry.item
            if item is not None:
                items.setdefault((_kind(item), item.pk), item)
    return list(items.values())


def values_for(
    mailbox: Mailbox, conversation: Conversation | None, *, user, everything: bool = False
) -> dict[str, str]:
    """What each placeholder stands for in an email `user` writes from this mailbox.

    Only items the user may read fill placeholders: a template must not put a deal's
    title or a colleague's client into mail written by someone who may not see them.
    `everything`: Postroom itself writes (an auto-reply to the customer the items are
    about), so every item of the conversation counts.
    """
    from postroom.crm.access import can_read

    values = dict.fromkeys(NAMES, "")
    values["mailbox_name"] = mailbox.name
    try:
        items = [
            item for item in conversation_items(conversation) if everything or can_read(user, item)
        ]
    except Exception:  # noqa: BLE001 - the CRM unreadable: send with empty values, logged
        logger.exception("reading the CRM items of conversation %s failed", conversation)
        items = []
    by_kind: dict[str, Model] = {}
    for item in items:
        by_kind.setdefault(_kind(item), item)
    person = by_kind.get("contact") or by_kind.get("lead")
    if person is not None:
        values["contact_name"] = getattr(person, "name", "") or ""
    deal = by_kind.get("deal") or by_kind.get("smartitem")
    if deal is not None:
        values["deal_title"] = getattr(deal, "title", "") or ""
    # The responsible person of the most specific item: the deal, else the person.
    for item in (deal, person, by_kind.get("company")):
        if item is not None and getattr(item, "responsible", None) is not None:
            values["responsible_name"] = _person(item.responsible)
            break
    return values
