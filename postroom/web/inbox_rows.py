# ruff: noqa: E501 - lines of HTML, kept whole to read as the template did
"""The inbox's rows and its two menus of people, written in Python.

The template wrote them before: 50 rows made about 10,000 variable lookups, filters and
an include per row, most of the page's time at 1,000,000 emails (issue 17). The HTML is
the same as the template's was, to the byte (web/tests/test_inbox_rows.py holds a copy of
that template and compares).
"""

from __future__ import annotations

from html import escape

from django.template.defaultfilters import timesince_filter, timeuntil_filter
from django.utils.formats import localize
from django.utils.safestring import SafeString, mark_safe
from django.utils.timezone import template_localtime

from postroom.routing.sla import state_of

from .quick_select import options_html
from .templatetags.inbox import initials
from .times import when_exact

NO_SUBJECT = "(no subject)"


def rows_html(rows) -> SafeString:
    """The table's rows (inbox_views.Row), each as web/inbox/inbox.html wrote it."""
    return mark_safe("".join(_row(row) for row in rows))  # noqa: S308 - escaped here


def _row(row) -> str:
    c = row.conversation
    pk, url = c.pk, escape(row.url)
    subject = escape(c.subject or NO_SUBJECT)
    if (person := c.responsible) is not None:
        avatar = (
            f'<span class="avatar" title="{escape(str(person))}">{escape(initials(person))}</span>'
        )
    else:
        avatar = '<span class="avatar none" title="Nobody">–</span>'
    extras = ' <span title="Has attachments">📎</span>' if c.has_attachment else ""
    if c.message_count > 1:
        extras += f' <span class="thread-size">{escape(localize(c.message_count))}</span>'
    status = (
        f'<span class="status status-{escape(c.status)}">{escape(c.get_status_display())}</span>'
    )
    if c.snoozed_until:
        status += f"<br><small>snoozed until {when_exact(c.snoozed_until)}</small>"
    crm = (
        "<br>".join(
            f'{escape(label)} <a href="{escape(link)}">{escape(title)}</a>'
            for label, title, link in row.crm
        )
        if row.crm
        else "–"
    )
    return (
        f'\n      <tr data-row data-url="{url}" data-reply="{escape(row.reply_url)}" data-id="{pk}">\n'
        f'        <td><input type="checkbox" name="conversation" value="{pk}" form="bulk" aria-label="Tick {subject}"></td>\n'
        f"        <td>{avatar}</td>\n"
        f'        <td class="sender">{escape(row.sender or c.last_sender)}<br><small>{escape(c.mailbox.name)}</small></td>\n'
        f'        <td class="subject"><a href="{url}">{subject}</a>{extras}<br><span class="snippet">{escape(row.snippet)}</span></td>\n'
        f"        <td>{status}</td>\n"
        f'        <td><time datetime="{escape(row.waited_iso)}" title="{escape(row.waited_exact)}">{escape(row.age)}</time>{_due(c.reply_due_at)}\n</td>\n'
        f'        <td class="crm">{crm}</td>\n'
        "      </tr>\n      "
    )  # fmt: skip


def _due(due) -> str:
    """web/inbox/reply_due.html (without its closing newline), not inline."""
    if not due:
        return ""
    state = state_of(due)
    shown = escape(str(localize(template_localtime(due))))
    words = (
        f"Overdue {escape(timesince_filter(due))}"
        if state == "overdue"
        else f"Due in {escape(timeuntil_filter(due))}"
    )
    kind = f" due-{state}" if state else ""
    return f'<br><span class="due{kind}" title="Reply due {shown}" data-due="{state or "later"}">{words}</span>'  # fmt: skip


def people_options(people, *, chosen) -> SafeString:
    """<option>s of people (by str(), as the template wrote {{ person }}), `chosen`
    (an id) selected."""
    return options_html(((p.pk, str(p)) for p in people), {str(chosen)})
