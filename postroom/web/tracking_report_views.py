"""The tracking report (/reports/tracking/): the figures of postroom/tracking/reports.py
drawn as charts (the vendored Chart.js the dashboard uses), with their numbers and a
CSV export of each. Shown to whoever sees the dashboard: the managers of a mailbox
(their mailboxes) and administrators (every shared one)."""

from __future__ import annotations

import csv

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from postroom.tracking import reports

from .dashboard_views import _scope, managed_mailboxes
from .refusals import refused

CSV_FIGURES = (
    "rates_sender",
    "rates_mailbox",
    "rates_template",
    "mail_per_day",
    "items_per_day",
    "items_per_mailbox",
)


def _percent(rate: float | None) -> float | None:
    return None if rate is None else round(rate * 100, 1)


def chart_data(report: dict) -> dict:
    """What the page's charts draw (and the browser test reads back): plain JSON."""
    data = {}
    for group in reports.GROUPS:
        rows = report["rates"][group]
        data[f"rates_{group}"] = {
            "labels": [r.label for r in rows],
            "datasets": [
                {"label": "Open rate %", "values": [_percent(r.open_rate) for r in rows]},
                {"label": "Click rate %", "values": [_percent(r.click_rate) for r in rows]},
            ],
        }
    data["mail_per_day"] = {
        "labels": [d.isoformat() for d, _ in report["sent"]],
        "datasets": [
            {"label": "Sent", "values": [n for _, n in report["sent"]]},
            {"label": "Received", "values": [n for _, n in report["received"]]},
        ],
    }
    data["items_per_day"] = {
        "labels": [d.isoformat() for d, _, _ in report["items_per_day"]],
        "datasets": [
            {"label": "Leads", "values": [n for _, n, _ in report["items_per_day"]]},
            {"label": "Deals", "values": [n for _, _, n in report["items_per_day"]]},
        ],
    }
    data["items_per_mailbox"] = {
        "labels": [name for name, _, _ in report["items_per_mailbox"]],
        "datasets": [
            {"label": "Leads", "values": [n for _, n, _ in report["items_per_mailbox"]]},
            {"label": "Deals", "values": [n for _, _, n in report["items_per_mailbox"]]},
        ],
    }
    return data


@login_required
@require_GET
def tracking_report(request):
    mailboxes = list(managed_mailboxes(request.user).order_by("name"))
    if not mailboxes:
        return refused(
            request,
            "The tracking report shows the figures of the mailboxes you manage, and you "
            "manage none: ask an administrator for the manage right on a mailbox.",
        )
    scope, _ = _scope(request, mailboxes)
    report = reports.figures(scope)
    charts = chart_data(report)
    figure = request.GET.get("csv", "")
    if figure:
        return _csv(figure, charts, scope)
    query = request.GET.copy()
    query.pop("csv", None)
    tables = {
        name: [
            (label, *(d["values"][i] for d in chart["datasets"]))
            for i, label in enumerate(chart["labels"])
        ]
        for name, chart in charts.items()
    }
    rates = {group: report["rates"][group] for group in reports.GROUPS}
    context = {
        "mailboxes": mailboxes,
        "scope": scope,
        "chosen_mailbox": scope.mailbox_ids[0]
        if len(scope.mailbox_ids) == 1 and request.GET.get("mailbox")
        else None,
        "rates": rates,
        "tables": tables,
        "sent_total": sum(n for _, n in report["sent"]),
        "received_total": sum(n for _, n in report["received"]),
        "leads_total": sum(n for _, n, _ in report["items_per_day"]),
        "deals_total": sum(n for _, _, n in report["items_per_day"]),
        "charts": charts,
        "query": query.urlencode(),
    }
    return render(request, "web/tracking_report.html", context)


def _csv(figure: str, charts: dict, scope) -> HttpResponse:
    """A figure's rows as CSV: its labels and each series, as the chart draws them
    (rates with the counts they are made of)."""
    if figure not in CSV_FIGURES:
        raise Http404("no such figure")
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    name = f"postroom-{figure}-{scope.start.isoformat()}-{scope.end.isoformat()}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    out = csv.writer(response)
    chart = charts[figure]
    if figure.startswith("rates_"):
        group = figure.removeprefix("rates_")
        out.writerow([group, "tracked emails", "opened", "clicked", "open rate", "click rate"])
        report_rows = reports.rates(reports.tracked_rows(scope), group)
        out.writerows(
            [r.label, r.sent, r.opened, r.clicked, r.open_rate, r.click_rate] for r in report_rows
        )
        return response
    first = "day" if figure.endswith("per_day") else "mailbox"
    out.writerow([first, *(d["label"].lower() for d in chart["datasets"])])
    for i, label in enumerate(chart["labels"]):
        out.writerow([label, *(d["values"][i] for d in chart["datasets"])])
    return response
