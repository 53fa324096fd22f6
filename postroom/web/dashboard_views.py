"""The manager's dashboard: per mailbox, team and period, the figures of
postroom/routing/reports.py drawn as charts (vendored Chart.js), with their numbers and
a CSV export of each. For the managers of a mailbox (their mailboxes) and administrators
(every shared one)."""

from __future__ import annotations

import csv
from datetime import date, timedelta

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from postroom.accounts.models import Department
from postroom.mailboxes.access import mailboxes_for
from postroom.mailboxes.models import Mailbox, MailboxGrant
from postroom.routing import reports
from postroom.web.refusals import refused

DEFAULT_DAYS = 30
MAX_DAYS = 366 * 2
CSV_FIGURES = ("incoming", "first_reply", "sla", "open_per_person", "oldest_waiting", "replies")


def managed_mailboxes(user):
    """The mailboxes whose figures the user may see: those they manage (shared ones;
    administrators: every shared one)."""
    return mailboxes_for(user, MailboxGrant.Level.MANAGE).filter(kind=Mailbox.Kind.SHARED)


def _date(value: str | None, default: date) -> date:
    try:
        return date.fromisoformat(value) if value else default
    except ValueError:
        return default


def _scope(request, mailboxes: list[Mailbox]):
    today = timezone.localdate()
    end = _date(request.GET.get("to"), today)
    start = _date(request.GET.get("from"), end - timedelta(days=DEFAULT_DAYS - 1))
    if start > end:
        start, end = end, start
    start = max(start, end - timedelta(days=MAX_DAYS))
    chosen = request.GET.get("mailbox", "")
    ids = [m.pk for m in mailboxes]
    if chosen:
        if not chosen.isdigit() or int(chosen) not in ids:
            raise Http404("no such mailbox among those you manage")
        ids = [int(chosen)]
    team = request.GET.get("team", "")
    department = None
    if team:
        department = Department.objects.filter(pk=int(team) if team.isdigit() else 0).first()
        if department is None:
            raise Http404("no such team")
    return reports.Scope.of(ids, start=start, end=end, department=department), department


def _refused(request, reason: str) -> HttpResponse:
    return refused(request, reason)


def chart_data(report: dict) -> dict:
    """What the page's charts draw (and the Playwright test reads back): plain JSON."""
    names = report["names"]
    return {
        "incoming": {
            "labels": [d.isoformat() for d, _ in report["incoming"]],
            "values": [n for _, n in report["incoming"]],
        },
        "first_reply": {
            "labels": ["Median", "90th percentile"],
            "values": [
                _minutes(report["first_reply"]["median_seconds"]),
                _minutes(report["first_reply"]["p90_seconds"]),
            ],
            "count": report["first_reply"]["count"],
        },
        "sla": {
            "labels": ["Hit", "Breached"],
            "values": [report["sla"]["hit"], report["sla"]["breached"]],
            "rate": report["sla"]["rate"],
        },
        "open_per_person": {
            "labels": [reports.name_of(names, pk) for pk, _ in report["open_per_person"]],
            "values": [n for _, n in report["open_per_person"]],
        },
        "replies_per_person": {
            "labels": [reports.name_of(names, pk) for pk, _ in report["replies_per_person"]],
            "values": [n for _, n in report["replies_per_person"]],
        },
    }


def _pairs(charts: dict, name: str) -> list[tuple[str, int]]:
    return list(zip(charts[name]["labels"], charts[name]["values"], strict=True))


def _minutes(seconds) -> float | None:
    return None if seconds is None else round(seconds / 60, 1)


@login_required
@require_GET
def dashboard(request):
    mailboxes = list(managed_mailboxes(request.user).order_by("name"))
    if not mailboxes:
        return _refused(
            request,
            "The dashboard shows the figures of the mailboxes you manage, and you manage "
            "none: ask an administrator for the manage right on a mailbox.",
        )
    scope, department = _scope(request, mailboxes)
    report = reports.figures(scope)
    figure = request.GET.get("csv", "")
    if figure:
        return _csv(figure, report, scope)
    query = request.GET.copy()
    query.pop("csv", None)
    charts = chart_data(report)
    context = {
        "mailboxes": mailboxes,
        "teams": reports.departments(),
        "scope": scope,
        "chosen_mailbox": scope.mailbox_ids[0]
        if len(scope.mailbox_ids) == 1 and request.GET.get("mailbox")
        else None,
        "team": department,
        "report": report,
        "oldest": [
            {**row, "responsible": reports.name_of(report["names"], row["responsible_id"])}
            for row in report["oldest_waiting"]
        ],
        "charts": charts,
        "incoming_total": sum(n for _, n in report["incoming"]),
        "people_open": _pairs(charts, "open_per_person"),
        "people_replies": _pairs(charts, "replies_per_person"),
        "query": query.urlencode(),
    }
    return render(request, "web/routing/dashboard.html", context)


def _csv(figure: str, report: dict, scope) -> HttpResponse:
    if figure not in CSV_FIGURES:
        raise Http404("no such figure")
    names = report["names"]
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    name = f"postroom-{figure}-{scope.start.isoformat()}-{scope.end.isoformat()}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    out = csv.writer(response)
    if figure == "incoming":
        out.writerow(["day", "incoming emails"])
        out.writerows([d.isoformat(), n] for d, n in report["incoming"])
    elif figure == "first_reply":
        first = report["first_reply"]
        out.writerow(["first replies", "median seconds", "p90 seconds"])
        out.writerow([first["count"], first["median_seconds"], first["p90_seconds"]])
    elif figure == "sla":
        sla = report["sla"]
        out.writerow(["hit", "breached", "hit rate"])
        out.writerow([sla["hit"], sla["breached"], sla["rate"]])
    elif figure in ("open_per_person", "replies"):
        rows = report["open_per_person" if figure == "open_per_person" else "replies_per_person"]
        out.writerow(["person", "open conversations" if figure == "open_per_person" else "replies"])
        out.writerows([reports.name_of(names, pk), n] for pk, n in rows)
    else:
        out.writerow(["conversation", "subject", "mailbox", "responsible", "waiting since",
                      "waited seconds"])  # fmt: skip
        out.writerows(
            [
                r["conversation"],
                r["subject"],
                r["mailbox"],
                reports.name_of(names, r["responsible_id"]),
                r["waiting_since"].isoformat(),
                r["waited_seconds"],
            ]  # fmt: skip
            for r in report["oldest_waiting"]
        )
    return response
