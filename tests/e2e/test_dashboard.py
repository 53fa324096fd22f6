"""In Chromium: a mailbox's manager opens the dashboard; each chart is drawn by the
vendored Chart.js on its canvas, and the data each chart holds equals the figures the
server computes from the rows; a CSV link downloads the same numbers."""

from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from postroom.mail.models import ConversationEvent, ConversationMessage, Message
from postroom.mailboxes.actions import do_grant_mailbox
from postroom.mailboxes.models import MailboxGrant
from postroom.routing import reports
from postroom.routing.models import SlaClock
from postroom.testing.factories import ConversationFactory, MailboxFactory, UserFactory
from postroom.testing.web import log_in
from postroom.web.dashboard_views import chart_data

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

CHARTS = ["incoming", "first_reply", "sla", "open_per_person", "replies_per_person"]


def _a_week_of_mail(mailbox, people):
    now = timezone.now()
    for n in range(12):
        asked = now - timedelta(days=n % 6, hours=n)
        person = people[n % len(people)]
        conversation = ConversationFactory(
            mailbox=mailbox, subject=f"Question {n}", responsible=person,
            waiting_since=asked if n % 3 == 0 else None, last_message_at=asked,
        )  # fmt: skip
        message = Message.objects.create(
            identity=f"dash-{n}", raw_sha256="0" * 64, raw_size=1, status="parsed",
            from_address=f"c{n}@customer.test", kind="normal", date=asked,
        )  # fmt: skip
        ConversationMessage.objects.create(
            conversation=conversation, message=message, mailbox=mailbox
        )
        if n % 3:
            ConversationEvent.objects.create(
                conversation=conversation, kind="replied", actor=person,
                created_at=asked + timedelta(minutes=20 * n),
                detail={"waited_seconds": 1200 * n, "forward": False},
            )  # fmt: skip
        SlaClock.objects.create(
            conversation=conversation, mailbox=mailbox, kind="first", started_at=asked,
            due_at=asked + timedelta(hours=1), escalate_at=asked + timedelta(hours=2),
            ended_at=asked + timedelta(minutes=20 * n) if n % 3 else None,
            outcome="answered" if n % 3 else "",
        )  # fmt: skip


def test_the_dashboard_draws_each_figure_with_the_servers_numbers(live_server, page):
    sales = MailboxFactory(name="Sales", address="sales@acme.test")
    mia = UserFactory(username="mia")
    do_grant_mailbox(sales, mia, MailboxGrant.Level.MANAGE)
    people = [UserFactory(username=n, first_name=n.title()) for n in ("alice", "bob")]
    _a_week_of_mail(sales, people)

    page.set_default_timeout(60_000)
    log_in(page, f"{live_server.url}/dashboard/", "mia")
    page.wait_for_url("**/dashboard/")
    page.wait_for_function("() => window.Chart && Chart.getChart('chart-sla')")

    today = timezone.localdate()
    scope = reports.Scope.of([sales.pk], start=today - timedelta(days=29), end=today)
    expected = chart_data(reports.figures(scope))
    for name in CHARTS:
        drawn = page.evaluate(
            """name => {
                const chart = Chart.getChart('chart-' + name);
                const canvas = document.getElementById('chart-' + name);
                return { labels: chart.data.labels, values: chart.data.datasets[0].data,
                         width: canvas.width, height: canvas.height };
            }""",
            name,
        )
        assert drawn["width"] > 0 and drawn["height"] > 0, name
        assert drawn["labels"] == expected[name]["labels"], name
        assert drawn["values"] == expected[name]["values"], name
    assert sum(expected["incoming"]["values"]) == 12
    assert expected["sla"]["values"][0] + expected["sla"]["values"][1] > 0

    with page.expect_download() as download:
        page.locator("[data-figure=sla] a.csv").click()
    text = Path(download.value.path()).read_text(encoding="utf-8")
    hit, breached = expected["sla"]["values"]
    assert text.splitlines()[1].startswith(f"{hit},{breached},")
