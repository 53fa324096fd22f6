"""How a person is named wherever Postroom shows or offers one.

One helper for every person picker (assign, responsible, filters, mentions, rules) and
every place a responsible person or a grant is shown: the full name, the username only
when there is no name, and "(deactivated)" after a person who may no longer log in, so
that what a deactivated colleague still holds says so where it appears.
"""

from collections.abc import Iterable

from django.db.models import QuerySet

from .models import User

DEACTIVATED = "deactivated"


def display_name(user: User) -> str:
    """The full name; the username only when there is no name."""
    return user.get_full_name().strip() or user.get_username()


def person_label(user: User | None, *, nobody: str = "—") -> str:
    """display_name, marked when the person is deactivated."""
    if user is None:
        return nobody
    name = display_name(user)
    return name if user.is_active else f"{name} ({DEACTIVATED})"


def by_name(people: QuerySet[User]) -> QuerySet[User]:
    """People in the order a picker lists them: by the name it shows."""
    return people.order_by("first_name", "last_name", "username")


def active_people() -> QuerySet[User]:
    """Everyone a picker may offer: people who can log in, by name."""
    return by_name(User.objects.filter(is_active=True))


def person_choices(people: Iterable[User]) -> list[tuple[str, str]]:
    """(pk, label) pairs for a select built by hand."""
    return [(str(user.pk), person_label(user)) for user in people]
