"""Links built for every row of a long list, without Django's reverse() per row."""

from collections.abc import Callable

from django.urls import reverse


def url_maker(name: str) -> Callable[[int], str]:
    """A function of an id giving the URL `name` has for it, reversed once: a list of 200
    rows spent more on {% url %} than on its query."""
    placeholder = 987654321
    prefix, _, suffix = reverse(name, args=[placeholder]).partition(str(placeholder))
    return lambda pk: f"{prefix}{pk}{suffix}"
