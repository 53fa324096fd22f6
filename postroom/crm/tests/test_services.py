"""Lead conversion, manual save and relink, stages, tasks and mailbox CRM settings."""

import pytest

from postroom.accounts.models import Role, RolePermission
from postroom.crm import actions
from postroom.crm.access import CrmPermissionDenied
from postroom.crm.actions import CrmError
from postroom.crm.capture import capture_message
from postroom.crm.models import Company, Contact, Deal, Lead, Pipeline, TimelineEntry
from postroom.crm.timeline import timeline_of
from postroom.mailboxes.actions import do_grant_mailbox
from postroom.mailboxes.models import MailboxGrant
from postroom.testing.factories import (
    ContactFactory,
    DealFactory,
    MailboxFactory,
    SmartItemFactory,
    UserFactory,
    default_role,
)
from postroom.testing.mail import make_email

pytestmark = pytest.mark.django_db


def emails_on(item) -> list[str]:
    return [e.activity.message.subject for e in timeline_of(item) if e.activity_id]


def manager(**fields):
    """A user with the default "Manager" role: edits the items they are responsible for."""
    user = UserFactory(**fields)
    user.roles.add(default_role("Manager"))
    return user


@pytest.fixture
def alice():
    return manager(username="alice", email="alice@acme.test")


@pytest.fixture
def mailbox(alice):
    mailbox = MailboxFactory(crm_rule="lead")
    do_grant_mailbox(mailbox, alice, MailboxGrant.Level.READ)
    return mailbox


# ------------------------------------------------------------------ conversion


def test_converting_a_lead_keeps_its_emails_on_it_and_on_the_new_items(arrive, mailbox, alice):
    capture_message(arrive(mailbox, make_email(subject="Price request")), mailbox)
    capture_message(arrive(mailbox, make_email(subject="Re: Price request")), mailbox)
    lead = Lead.objects.get()
    lead.responsible, lead.company_name, lead.phone = alice, "Customer Ltd", "+49 30 1234"
    lead.save()
    contact, company, deal = actions.do_convert_lead(lead, alice)
    lead.refresh_from_db()
    assert lead.status == Lead.Status.CONVERTED
    assert (lead.converted_contact, lead.converted_company, lead.converted_deal) == (
        contact,
        company,
        deal,
    )
    assert contact.company == company and company.name == "Customer Ltd"
    assert contact.primary_email == "anna@customer.test"
    assert list(contact.phones.values_list("phone", flat=True)) == ["+49 30 1234"]
    assert deal.lead == lead and deal.contact == contact and deal.is_open
    for item in (lead, contact, company, deal):
        assert sorted(emails_on(item)) == ["Price request", "Re: Price request"]
    # Later mail of the person finds the contact and its deal, not the converted lead.
    later = capture_message(arrive(mailbox, make_email(subject="Order")), mailbox)
    assert set(later.bound) == {contact, company, deal} and later.created == []


def test_a_lead_converts_once(mailbox, alice):
    lead = Lead.objects.create(title="Q", email="anna@customer.test", responsible=alice)
    actions.do_convert_lead(lead, alice)
    with pytest.raises(CrmError, match="converted already"):
        actions.do_convert_lead(lead, alice)


def test_converting_needs_edit_permission(mailbox):
    lead = Lead.objects.create(title="Q", email="anna@customer.test", source_mailbox=mailbox)
    with pytest.raises(CrmPermissionDenied, match="lead"):
        actions.do_convert_lead(lead, manager())
    assert not Contact.objects.exists()


def test_converting_reuses_a_contact_with_the_lead_s_email(alice):
    existing = ContactFactory(email="anna@customer.test")
    lead = Lead.objects.create(title="Q", email="anna@customer.test", responsible=alice)
    contact, company, deal = actions.do_convert_lead(lead, alice)
    assert contact == existing and company is None and deal.contact == existing


# ---------------------------------------------------------------- manual save


def test_a_user_saves_an_email_of_a_mailbox_without_crm_to_a_new_lead(arrive, alice):
    mailbox = MailboxFactory(crm_rule="none")
    do_grant_mailbox(mailbox, alice, MailboxGrant.Level.READ)
    message = arrive(mailbox, make_email(subject="Job offer?"))
    assert capture_message(message, mailbox).skipped
    [lead] = actions.do_save_to_crm(message, alice, create="lead")
    assert lead.responsible == alice and emails_on(lead) == ["Job offer?"]


def test_a_user_saves_an_email_to_an_existing_deal(arrive, mailbox, alice):
    deal = DealFactory(responsible=alice)
    message = arrive(mailbox, make_email(sender="someone@else.test", subject="Forwarded"))
    assert actions.do_save_to_crm(message, alice, item=deal) == [deal]
    assert emails_on(deal) == ["Forwarded"]


def test_a_user_saves_an_email_to_a_new_smart_item(arrive, mailbox, alice):
    message = arrive(mailbox, make_email(subject="Broken"))
    smart, contact = actions.do_save_to_crm(message, alice, create="smart:support-request")
    assert smart.smart_type.name == "Support Request" and smart.contact == contact
    assert emails_on(smart) == emails_on(contact) == ["Broken"]


@pytest.mark.parametrize(
    ("fields", "explanation"),
    [
        ({"headers": {"Auto-Submitted": "auto-replied"}}, "is an auto-reply"),
        ({"headers": {"List-Id": "<news.customer.test>"}}, "is a mailing-list mail"),
        ({"sender": "MAILER-DAEMON@mx.customer.test"}, "is a bounce"),
        ({"sender": "bob@acme.test", "to": "alice@acme.test"}, "between the organisation's"),
    ],
)
def test_saving_machine_or_internal_mail_is_refused_with_a_reason(
    arrive, mailbox, alice, fields, explanation
):
    UserFactory(username="bob", email="bob@acme.test")
    message = arrive(mailbox, make_email(**fields))
    with pytest.raises(CrmError, match=explanation):
        actions.do_save_to_crm(message, alice, create="lead")
    assert not Lead.objects.exists()


def test_saving_spam_is_refused_with_a_reason(arrive, mailbox, alice):
    message = arrive(mailbox, make_email(), folder="Junk", role="spam")
    with pytest.raises(CrmError, match="in the spam folder"):
        actions.do_save_to_crm(message, alice, create="lead")


def test_saving_needs_access_to_a_mailbox_with_the_email(arrive, mailbox):
    message = arrive(mailbox, make_email())
    with pytest.raises(CrmPermissionDenied, match="no access to a mailbox with this email"):
        actions.do_save_to_crm(message, UserFactory(), create="lead")


@pytest.mark.parametrize("create", ["lead", "contact-deal", "smart:support-request"])
def test_creating_an_item_by_saving_needs_the_right_to_create_it(arrive, mailbox, create):
    reader = UserFactory()  # reads the mailbox, has no CRM role
    do_grant_mailbox(mailbox, reader, MailboxGrant.Level.READ)
    message = arrive(mailbox, make_email())
    with pytest.raises(CrmPermissionDenied, match="You may not create"):
        actions.do_save_to_crm(message, reader, create=create)
    assert not Lead.objects.exists() and not Contact.objects.exists()


def test_converting_needs_the_right_to_create_a_contact_and_a_deal(mailbox):
    qualifier = UserFactory()  # edits leads, may create nothing
    role = Role.objects.create(name="Lead qualifier")
    for action in ("read", "edit"):
        RolePermission.objects.create(role=role, entity="lead", action=action, scope=3)
    qualifier.roles.add(role)
    lead = Lead.objects.create(title="Chairs", email="anna@customer.test", responsible=qualifier)
    with pytest.raises(CrmPermissionDenied, match="no creating of contacts"):
        actions.do_convert_lead(lead, qualifier)
    assert not Contact.objects.exists() and not Deal.objects.exists()


def test_saving_to_an_item_the_user_may_not_edit_is_refused(arrive, mailbox, alice):
    deal = DealFactory(title="Someone's deal", responsible=manager())
    message = arrive(mailbox, make_email())
    with pytest.raises(CrmPermissionDenied, match="deal"):
        actions.do_save_to_crm(message, alice, item=deal)


# ---------------------------------------------------------------------- relink


def test_moving_an_email_to_another_deal(arrive, mailbox, alice):
    contact = ContactFactory(email="anna@customer.test")
    wrong = DealFactory(contact=contact, responsible=alice, title="Wrong")
    right = DealFactory(contact=contact, responsible=alice, title="Right")
    DealFactory.reset_sequence()
    message = arrive(mailbox, make_email(subject="Invoice"))
    capture_message(message, mailbox)
    assert emails_on(right) == ["Invoice"]  # the newest open deal
    assert actions.do_move_email(message, right, wrong, user=alice)
    assert emails_on(wrong) == ["Invoice"] and emails_on(right) == []
    assert emails_on(contact) == ["Invoice"]


def test_moving_an_email_needs_edit_permission_on_both_deals(arrive, mailbox, alice):
    mine = DealFactory(responsible=alice)
    theirs = DealFactory(responsible=manager(), title="Their deal")
    message = arrive(mailbox, make_email())
    actions.do_save_to_crm(message, alice, item=mine)
    with pytest.raises(CrmPermissionDenied, match="deal"):
        actions.do_move_email(message, mine, theirs, user=alice)
    assert emails_on(mine) == ["Price request"]


def test_moving_an_email_needs_access_to_a_mailbox_holding_it(arrive, mailbox, alice):
    bob = manager()
    first = DealFactory(responsible=bob)
    second = DealFactory(responsible=bob, title="Second")
    message = arrive(mailbox, make_email())
    activity = actions.do_record_email_activity(message, direction="in")
    actions.do_bind_activity(activity, first)  # as capture binds it
    with pytest.raises(CrmPermissionDenied, match="no access to a mailbox with this email"):
        actions.do_move_email(message, first, second, user=bob)
    assert emails_on(first) == ["Price request"] and emails_on(second) == []


# ---------------------------------------------------------------- stages, tasks


def test_a_stage_change_is_on_the_timeline_and_closes_the_deal(alice):
    deal = DealFactory(responsible=alice)
    won = Pipeline.default().stages.get(name="Won")
    assert actions.do_move_stage(deal, won, user=alice)
    deal.refresh_from_db()
    assert deal.closed_at is not None and not deal.is_open
    entry = timeline_of(deal).filter(kind=TimelineEntry.Kind.STAGE).get()
    assert (entry.text, entry.author) == ("New → Won", alice)
    assert not actions.do_move_stage(deal, won, user=alice)  # already there


def test_a_stage_of_another_pipeline_or_type_is_refused(alice):
    item = SmartItemFactory(responsible=alice)
    with pytest.raises(CrmError, match="is not a stage of"):
        actions.do_move_stage(item, Pipeline.default().first_stage(), user=alice)


def test_tasks_are_created_and_completed_on_the_item_s_timeline(alice):
    deal = DealFactory(responsible=alice)
    task = actions.do_create_task("Call back", item=deal, user=alice)
    assert task.item == deal and task.responsible == alice and not task.is_done
    with pytest.raises(CrmPermissionDenied, match="may not complete the task “Call back”"):
        actions.do_complete_task(task, user=manager())
    assert actions.do_complete_task(task, user=alice)
    texts = [e.text for e in timeline_of(deal).filter(kind=TimelineEntry.Kind.TASK)]
    assert texts == ["Done: Call back", "Task: Call back"]


# ------------------------------------------------------------- mailbox settings


def test_a_mailbox_s_smart_rule_must_name_an_existing_type(alice):
    mailbox = MailboxFactory()
    actions.do_configure_mailbox_crm(
        mailbox, rule="smart", smart_type="Support Request", notify=[alice],
        route_to_manager=True, responsible=alice,
    )  # fmt: skip
    mailbox.refresh_from_db()
    assert mailbox.crm_rule_label == "smart:support-request"
    assert list(mailbox.crm_notify.all()) == [alice] and mailbox.crm_route_to_manager
    with pytest.raises(CrmError, match="no smart type 'Complaints'"):
        actions.do_configure_mailbox_crm(mailbox, rule="smart", smart_type="Complaints")


def test_a_free_mail_domain_cannot_be_a_company_s(alice):
    company = Company.objects.create(name="Acme")
    with pytest.raises(CrmError, match="free mail provider"):
        actions.do_add_company_domain(company, "gmail.com")
    assert actions.do_add_company_domain(company, "@Customer.TEST").domain == "customer.test"
    with pytest.raises(CrmError, match="already the domain of Acme"):
        actions.do_add_company_domain(Company.objects.create(name="B"), "customer.test")
    assert Deal.objects.count() == 0
