"""The distribution rules pages: a mailbox's managers list, add, reorder, disable, edit
and delete rules and ask "Who would get this?"; business hours and absences; everyone
else gets 404 (may not read the mailbox) or 403 (may not manage it)."""

import pytest
from django.urls import reverse

from postroom.mail.ingest import FetchedMessage, parse_stored, store_copy
from postroom.mailboxes.actions import do_grant_mailbox
from postroom.mailboxes.models import Folder, MailboxGrant
from postroom.routing.actions import do_add_rule, do_save_calendar, do_set_rule_enabled
from postroom.routing.models import Absence, BusinessHours, DistributionRule, RuleTurn
from postroom.testing.factories import MailboxFactory, UserFactory
from postroom.testing.mail import make_email
from postroom.testing.web import logged_in

pytestmark = pytest.mark.django_db
Kind = DistributionRule.Kind


@pytest.fixture
def mailbox():
    return MailboxFactory(
        address="sales@acme.test", name="Sales", owner=UserFactory(username="olga")
    )


@pytest.fixture
def manager(mailbox):
    user = UserFactory(username="mia")
    do_grant_mailbox(mailbox, user, MailboxGrant.Level.MANAGE)
    return user


@pytest.fixture
def senior(mailbox):
    user = UserFactory(username="sam")
    do_grant_mailbox(mailbox, user, MailboxGrant.Level.READ)
    return user


def rules_url(mailbox, *parts) -> str:
    if not parts:
        return reverse("web:mailbox_rules", args=[mailbox.pk])
    name, *args = parts
    return reverse(f"web:{name}", args=[mailbox.pk, *args])


def kinds(mailbox) -> list[tuple[str, int, bool]]:
    return list(
        DistributionRule.objects.filter(mailbox=mailbox)
        .order_by("position")
        .values_list("kind", "position", "enabled")
    )


def test_the_settings_page_links_to_the_rules(mailbox, manager):
    page = logged_in(manager).get(reverse("web:mailbox_settings", args=[mailbox.pk]))
    assert rules_url(mailbox) in page.content.decode()


def test_a_manager_adds_a_vip_keyword_rule(mailbox, manager, senior):
    client = logged_in(manager)
    response = client.post(
        rules_url(mailbox, "rule_new"),
        {"kind": "keyword", "keywords": "VIP", "match_in": "both", "target_user": senior.pk,
         "enabled": "on"},
    )  # fmt: skip
    assert response.status_code == 302
    rule = DistributionRule.objects.get()
    assert (rule.kind, rule.keywords, rule.target_user, rule.enabled) == (
        "keyword", "VIP", senior, True
    )  # fmt: skip
    page = client.get(rules_url(mailbox)).content.decode()
    assert "keyword VIP in subject or body → sam" in page


def test_an_invalid_regular_expression_is_refused_in_the_form_with_the_reason(
    mailbox, manager, senior
):
    response = logged_in(manager).post(
        rules_url(mailbox, "rule_new"),
        {"kind": "keyword", "keywords": "([a-z]", "is_regex": "on", "match_in": "both",
         "target_user": senior.pk},
    )  # fmt: skip
    assert response.status_code == 200
    assert "is not a valid regular expression" in response.content.decode()
    assert not DistributionRule.objects.exists()


def test_a_round_robin_without_a_queue_is_refused(mailbox, manager):
    response = logged_in(manager).post(
        rules_url(mailbox, "rule_new"), {"kind": "round-robin", "match_in": "both"}
    )
    assert "needs a queue" in response.content.decode()
    assert not DistributionRule.objects.exists()


def test_a_manager_edits_reorders_disables_and_deletes_rules(mailbox, manager, senior):
    first = do_add_rule(mailbox, kind=Kind.SENDER, senders="partner.test", target_user=senior)
    second = do_add_rule(mailbox, kind=Kind.ROUND_ROBIN, queue_users=[senior])
    client = logged_in(manager)
    client.post(rules_url(mailbox, "rule_move", second.pk), {"to": 1})
    assert kinds(mailbox) == [("round-robin", 1, True), ("sender", 2, True)]
    client.post(rules_url(mailbox, "rule_toggle", first.pk))
    assert kinds(mailbox)[1] == ("sender", 2, False)
    assert "disabled" in client.get(rules_url(mailbox)).content.decode()
    response = client.post(
        rules_url(mailbox, "rule_edit", first.pk),
        {"kind": "sender", "senders": "partner.test\nother.test", "match_in": "both",
         "target_user": senior.pk, "name": "Partners"},
    )  # fmt: skip
    assert response.status_code == 302
    first.refresh_from_db()
    assert (first.name, first.senders) == ("Partners", "partner.test\nother.test")
    client.post(rules_url(mailbox, "rule_delete", second.pk))
    assert kinds(mailbox) == [("sender", 1, False)]  # still disabled: not ticked in the form


def test_a_rule_naming_a_deactivated_person_says_so_on_the_page(mailbox, manager, senior):
    do_add_rule(mailbox, kind=Kind.KEYWORD, keywords="VIP", target_user=senior)
    senior.is_active = False
    senior.save()
    page = logged_in(manager).get(rules_url(mailbox)).content.decode()
    assert "sam is deactivated: the rule falls through" in page


def test_who_would_get_this_names_the_rule_and_why_without_assigning(mailbox, manager, senior):
    folder = Folder.objects.get(mailbox=mailbox)
    email = parse_stored(
        store_copy(folder, 1, FetchedMessage(uid=1, raw=make_email(subject="VIP order"))).message
    )
    vips = do_add_rule(mailbox, kind=Kind.KEYWORD, keywords="VIP", target_user=senior, name="VIPs")
    rr = do_add_rule(mailbox, kind=Kind.ROUND_ROBIN, queue_users=[manager, senior])
    client = logged_in(manager)
    page = client.get(rules_url(mailbox), {"message": email.pk}).content.decode()
    assert "by rule “VIPs”" in page and "“VIP” in the subject" in page
    # Picked from the recent ones, with the keyword rule disabled: the round-robin's turn.
    do_set_rule_enabled(vips, False)
    page = client.get(rules_url(mailbox), {"recent": email.pk}).content.decode()
    assert f"#{email.pk} anna@customer.test" in page  # offered in the list
    assert "round-robin → mia" in page
    assert RuleTurn.objects.get(rule=rr).turns == 0


def test_who_would_get_this_refuses_an_email_of_another_mailbox(mailbox, manager):
    other = MailboxFactory()
    folder = Folder.objects.get(mailbox=other)
    email = store_copy(folder, 1, FetchedMessage(uid=1, raw=make_email())).message
    page = logged_in(manager).get(rules_url(mailbox), {"message": email.pk}).content.decode()
    assert f"holds no email {email.pk}" in page


def test_someone_who_only_reads_the_mailbox_gets_403_and_a_stranger_404(mailbox, senior):
    rule = do_add_rule(mailbox, kind=Kind.KEYWORD, keywords="VIP", target_user=senior)
    reader = UserFactory()
    do_grant_mailbox(mailbox, reader, MailboxGrant.Level.REPLY)
    stranger = UserFactory()
    pages = [
        ("get", rules_url(mailbox)),
        ("get", rules_url(mailbox, "rule_new")),
        ("get", rules_url(mailbox, "rule_edit", rule.pk)),
        ("post", rules_url(mailbox, "rule_move", rule.pk)),
        ("post", rules_url(mailbox, "rule_toggle", rule.pk)),
        ("post", rules_url(mailbox, "rule_delete", rule.pk)),
    ]
    for method, url in pages:
        assert getattr(logged_in(reader), method)(url).status_code == 403, url
        assert getattr(logged_in(stranger), method)(url).status_code == 404, url
    assert kinds(mailbox) == [("keyword", 1, True)]
    for url in (reverse("web:calendars"), reverse("web:absence_add")):
        assert logged_in(reader).post(url).status_code == 403


def test_a_rule_of_another_mailbox_is_not_found(mailbox, manager, senior):
    other = MailboxFactory()
    rule = do_add_rule(other, kind=Kind.KEYWORD, keywords="VIP", target_user=senior)
    client = logged_in(manager)
    assert client.post(rules_url(mailbox, "rule_delete", rule.pk)).status_code == 404
    assert DistributionRule.objects.filter(pk=rule.pk).exists()


def test_changes_without_the_csrf_token_are_refused(mailbox, manager, senior):
    rule = do_add_rule(mailbox, kind=Kind.KEYWORD, keywords="VIP", target_user=senior)
    client = logged_in(manager, enforce_csrf_checks=True)
    assert client.post(rules_url(mailbox, "rule_delete", rule.pk)).status_code == 403
    assert client.post(reverse("web:calendars"), {"name": "x"}).status_code == 403
    assert DistributionRule.objects.exists()


def test_a_manager_adds_business_hours_and_a_calendar_that_cannot_work_is_refused(manager):
    client = logged_in(manager)
    response = client.post(
        reverse("web:calendars"),
        {"name": "Office", "time_zone": "Europe/Berlin", "week": "mon-fri 17:00-09:00"},
    )
    assert "ends before it starts" in response.content.decode()
    response = client.post(
        reverse("web:calendars"),
        {"name": "Office", "time_zone": "Europe/Berlin", "week": "mon-fri 09:00-17:00",
         "holidays": "2026-12-25"},
    )  # fmt: skip
    assert response.status_code == 302
    office = BusinessHours.objects.get()
    assert office.holidays == ["2026-12-25"] and office.week_text.startswith("mon 09:00-17:00")
    response = client.post(
        reverse("web:calendar_edit", args=[office.pk]),
        {"name": "Office", "time_zone": "Nowhere/Land", "week": "mon 09:00-17:00"},
    )
    assert "unknown time zone" in response.content.decode()


def test_a_business_hours_rule_with_its_on_call_person(mailbox, manager, senior):
    office = do_save_calendar(None, name="Office", time_zone="UTC", week="mon-fri 09:00-17:00")
    night = UserFactory(username="night")
    do_grant_mailbox(mailbox, night, MailboxGrant.Level.READ)
    response = logged_in(manager).post(
        rules_url(mailbox, "rule_new"),
        {"kind": "hours", "calendar": office.pk, "target_user": senior.pk, "match_in": "both",
         "on_call": night.pk},
    )  # fmt: skip
    assert response.status_code == 302
    assert DistributionRule.objects.get().on_call == night


def test_a_manager_marks_someone_away(manager, senior):
    client = logged_in(manager)
    client.post(
        reverse("web:absence_add"),
        {"user": senior.pk, "starts_on": "2026-12-24", "ends_on": "2026-12-31", "note": "holiday"},
    )
    absence = Absence.objects.get()
    assert absence.user == senior
    assert "holiday" in client.get(reverse("web:calendars")).content.decode()
    client.post(reverse("web:absence_remove", args=[absence.pk]))
    assert not Absence.objects.exists()
