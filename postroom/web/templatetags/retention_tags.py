from django import template

from postroom.retention.choices import personal_mailboxes_of
from postroom.retention.text import human_bytes

register = template.Library()


@register.filter(name="bytes")
def bytes_filter(value) -> str:
    return human_bytes(value)


@register.filter
def month(months: dict, key: str) -> tuple[int, int]:
    return months.get(key, (0, 0))


@register.filter
def has_personal_mailboxes(person) -> bool:
    return personal_mailboxes_of(person).exists()
