# ruff: noqa: E501 - rows of test data and the template, kept whole
"""The inbox's rows and people menus, written in Python (web/inbox_rows.py), are the HTML
the template wrote before: the template's loop is kept here and both are compared on
rows with every variant (no subject, nobody responsible, a deactivated person, snoozed,
reply due overdue, soon and later, attachments, CRM items, characters to escape)."""

from datetime import UTC, datetime, timedelta

import pytest
from django.template import Context, Engine
from django.utils import timezone

from postroom.accounts.models import User
from postroom.mail.models import Conversation
from postroom.mailboxes.models import Mailbox
from postroom.web.inbox_rows import people_options, rows_html
from postroom.web.inbox_views import Row

pytestmark = pytest.mark.django_db

# web/inbox/inbox.html's rows and menus as they were before inbox_rows.py.
TEMPLATE = """{% load inbox times %}<tbody>
      {% for row in rows %}{% with c=row.conversation %}
      <tr data-row data-url="{{ row.url }}" data-reply="{{ row.reply_url }}" data-id="{{ c.pk }}">
        <td><input type="checkbox" name="conversation" value="{{ c.pk }}" form="bulk" aria-label="Tick {{ c.subject|default:'(no subject)' }}"></td>
        <td>{% if c.responsible %}<span class="avatar" title="{{ c.responsible }}">{{ c.responsible|initials }}</span>{% else %}<span class="avatar none" title="Nobody">–</span>{% endif %}</td>
        <td class="sender">{{ row.sender|default:c.last_sender }}<br><small>{{ c.mailbox.name }}</small></td>
        <td class="subject"><a href="{{ row.url }}">{{ c.subject|default:"(no subject)" }}</a>{% if c.has_attachment %} <span title="Has attachments">📎</span>{% endif %}{% if c.message_count > 1 %} <span class="thread-size">{{ c.message_count }}</span>{% endif %}<br><span class="snippet">{{ row.snippet }}</span></td>
        <td><span class="status status-{{ c.status }}">{{ c.get_status_display }}</span>{% if c.snoozed_until %}<br><small>snoozed until {{ c.snoozed_until|when_exact }}</small>{% endif %}</td>
        <td><time datetime="{{ row.waited_iso }}" title="{{ row.waited_exact }}">{{ row.age }}</time>{% include "web/inbox/reply_due.html" with due=c.reply_due_at %}</td>
        <td class="crm">{% for label, title, url in row.crm %}{{ label }} <a href="{{ url }}">{{ title }}</a>{% if not forloop.last %}<br>{% endif %}{% empty %}–{% endfor %}</td>
      </tr>
      {% endwith %}{% endfor %}
      </tbody>
<select>{% for person in people %}<option value="{{ person.pk }}"{% if filters.responsible == person.pk %} selected{% endif %}>{{ person }}</option>{% endfor %}</select>
<select>{% for person in people %}<option value="{{ person.pk }}"{% if person.pk == user.pk %} selected{% endif %}>{{ person }}</option>{% endfor %}</select>"""  # noqa: E501


def _people() -> list[User]:
    return [
        User(pk=1, username="alice", first_name="Alice", last_name="Smith", is_active=True),
        User(pk=2, username="bob<b>", first_name="", last_name="", is_active=True),
        User(pk=3, username="carol", first_name="Carol & Co", last_name="", is_active=False),
    ]


def _rows() -> list[Row]:
    people = _people()
    box = Mailbox(pk=7, name='Sales <EU> & "Co"', address="sales@acme.test")
    now = timezone.now()
    # Far from any minute's change, so that both renderings read the same words.
    times = [now - timedelta(days=3, minutes=30), now + timedelta(days=2, minutes=30),
             now + timedelta(minutes=10, seconds=30), None]  # fmt: skip
    rows = []
    for n in range(8):
        c = Conversation(
            pk=100 + n, subject=["Hello", "", "<script>x</script> & 'q'"][n % 3],
            last_sender=f"Sender {n} <s{n}@x.test>", status=["open", "pending", "closed"][n % 3],
            message_count=[1, 2, 1234][n % 3], has_attachment=n % 2 == 0,
            snoozed_until=datetime(2031, 1, 2, 3, 4, 5, tzinfo=UTC) if n == 5 else None,
            reply_due_at=times[n % 4], last_message_at=now, mailbox_id=7,
        )  # fmt: skip
        c.mailbox = box
        c.responsible = [None, *people][n % 4]
        rows.append(
            Row(
                c, snippet=f"words & <more> {n}…", sender="" if n % 2 else f"Ann {n} \"A\"",
                crm=[("Deal", "Big <deal>", "/deals/1/"), ("Contact", "Ann & B", "/c/2/")][: n % 3] or None,
                url=f"/c/{c.pk}/", reply_url=f"/c/{c.pk}/reply/", age="3 days, 4\xa0hours",
                waited_iso="2026-12-07T17:48:10+00:00", waited_exact="2026-12-07 17:48:10 UTC",
            )
        )  # fmt: skip
    return rows


@pytest.mark.parametrize("zone", ["UTC", "Europe/Berlin"])
@pytest.mark.parametrize("chosen", [None, "none", 1, 3])
def test_the_rows_and_menus_are_the_html_the_template_wrote(zone, chosen):
    rows, people = _rows(), _people()
    with timezone.override(zone):
        before = Engine.get_default().from_string(TEMPLATE).render(
            Context({"rows": rows, "people": people, "filters": {"responsible": chosen},
                     "user": people[0]})
        )  # fmt: skip
        after = (
            f"<tbody>\n      {rows_html(rows)}\n      </tbody>\n"
            f"<select>{people_options(people, chosen=chosen)}</select>\n"
            f"<select>{people_options(people, chosen=people[0].pk)}</select>"
        )
    assert after == before
    assert "due-overdue" in after and "due-soon" in after and "snoozed until" in after
