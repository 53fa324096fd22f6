"""In Chromium: a mailbox's manager opens the tracking report; each chart is drawn by
the vendored Chart.js with the data the server computed from the rows, and a CSV link
downloads the same numbers."""

from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from postroom.mailboxes.actions import do_grant_mailbox
from postroom.mailboxes.models import MailboxGrant
from postroom.outbound.models import OutboxMessage
from postroom.routing.reports import Scope
from postroom.testing.factories import LeadFactory, MailboxFactory, UserFactory
from postroom.testing.web import log_in
from postroom.tracking import reports
from postroom.tracking.models import TrackedEmail, TrackingEvent
from postroom.web.tracking_report_views import chart_data

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

CHARTS = [
    "rates_sender",
    "rates_mailbox",
    "rates_template",
    "mail_per_day",
    "items_per_day",
    "items_per_mailbox",
]


def _a_week_of_tracked_mail(mailbox, people):
    now = timezone.now()
    for n in range(10):
        sent_at = now - timedelta(days=n % 5, hours=n)
        outbox = OutboxMessage.objects.create(
            mailbox=mailbox, author=people[n % 2], message_id=f"e2e{n}@acme.test",
            sender=mailbox.address, recipients=["c@customer.test"], raw=b"x",
            idempotency_key=f"e2e-{n}", status="sent", sent_at=sent_at,
        )  # fmt: skip
        tracked = TrackedEmail.objects.create(
            outbox=outbox, recipients=["c@customer.test"], links=["https://shop.test/"],
            first_read_at=sent_at + timedelta(minutes=5) if n % 3 else None,
        )  # fmt: skip
        if n % 4 == 0:
            TrackingEvent.objects.create(
                email=tracked, recipient="c@customer.test", kind="click", at=sent_at
            )
        LeadFactory(source_mailbox=mailbox)


def test_the_report_draws_each_figure_with_the_servers_numbers(live_server, page):
    sales = MailboxFactory(name="Sales", address="sales@acme.test")
    mia = UserFactory(username="mia")
    do_grant_mailbox(sales, mia, MailboxGrant.Level.MANAGE)
    people = [UserFactory(username=n, first_name=n.title()) for n in ("alice", "bob")]
    _a_week_of_tracked_mail(sales, people)

    page.set_default_timeout(60_000)
    log_in(page, f"{live_server.url}/reports/tracking/", "mia")
    page.wait_for_url("**/reports/tracking/")
    page.wait_for_function("() => window.Chart && Chart.getChart('chart-items_per_mailbox')")

    today = timezone.localdate()
    scope = Scope.of([sales.pk], start=today - timedelta(days=29), end=today)
    expected = chart_data(reports.figures(scope))
    for name in CHARTS:
        drawn = page.evaluate(
            """name => {
                const chart = Chart.getChart('chart-' + name);
                const canvas = document.getElementById('chart-' + name);
                return { labels: chart.data.labels,
                         values: chart.data.datasets.map(d => d.data),
                         width: canvas.width, height: canvas.height };
            }""",
            name,
        )
        assert drawn["width"] > 0 and drawn["height"] > 0, name
        assert drawn["labels"] == expected[name]["labels"], name
        assert drawn["values"] == [d["values"] for d in expected[name]["datasets"]], name
    assert expected["rates_sender"]["labels"] == ["Alice", "Bob"]
    assert sum(expected["mail_per_day"]["datasets"][0]["values"]) == 10
    assert sum(expected["items_per_day"]["datasets"][0]["values"]) == 10

    with page.expect_download() as download:
        page.locator("[data-figure=rates_sender] a.csv").click()
    rows = Path(download.value.path()).read_text(encoding="utf-8").splitlines()
    assert rows[0] == "sender,tracked emails,opened,clicked,open rate,click rate"
    assert rows[1].startswith("Alice,5,")
