"""A select menu written in Python instead of a template per option.

Django renders each <option> through its own template: the search page's mailbox and
folder menus (one option per readable mailbox, and per folder) made a few hundred
template renders, a third of the page's time at 200 mailboxes. A model choice's options
are also read here with one plain query: Django's ModelChoiceIterator reads them through
a server-side cursor on PostgreSQL (DECLARE, FETCH and CLOSE: three round trips).

The markup is Django's own (`<select name id>`, `<option value>`, ` selected`), without
the whitespace between options; one value selected, no option groups.
"""

from django import forms
from django.forms.models import ModelChoiceIterator
from django.utils.html import conditional_escape, format_html
from django.utils.safestring import SafeString, mark_safe


def _options(choices):
    if isinstance(choices, ModelChoiceIterator):
        field = choices.field
        if field.empty_label is not None:
            yield "", field.empty_label
        for obj in choices.queryset:
            yield choices.choice(obj)
    else:
        yield from choices


class QuickSelect(forms.Select):
    def render(self, name, value, attrs=None, renderer=None):
        chosen = set(self.format_value(value))
        parts = [format_html('<select name="{}"', name)]
        # As django/forms/widgets/attrs.html writes them: in order, True bare, False not.
        for key, attr in self.build_attrs(self.attrs, attrs).items():
            if attr is True:
                parts.append(format_html(" {}", key))
            elif attr is not False:
                parts.append(format_html(' {}="{}"', key, attr))
        parts.append(">")
        parts.append(options_html(_options(self.choices), chosen))
        parts.append("</select>")
        return mark_safe("".join(parts))  # noqa: S308 - every part escaped above


def options_html(choices, chosen: set[str]) -> SafeString:
    """<option>s of (value, label) pairs as Django writes them, those whose value (as
    text) is in `chosen` selected."""
    parts = []
    for value, label in choices:
        text = "" if value is None else str(value)
        selected = " selected" if text in chosen else ""
        parts.append(
            f'<option value="{conditional_escape(text)}"{selected}>'
            f"{conditional_escape(label)}</option>"
        )
    return mark_safe("".join(parts))  # noqa: S308 - escaped above
