"""Capture by each mailbox's rule, known senders, company domains and routing to managers.

Emails are stored and parsed as sync stores them; end-to-end runs through Dovecot are
in test_capture_dovecot.py.
"""

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.test.utils import CaptureQueriesContext

from postroom.accounts.models import Notification
from postroom.crm.capture import capture_message, capture_messages
from postroom.crm.models import (
    Activity,
    Contact,
    Deal,
    Lead,
    Pipeline,
    SmartItem,
    SmartType,
    Stage,
    TimelineEntry,
)
from postroom.crm.senders import Directory
from postroom.crm.timeline import timeline_of
from postroom.testing.factories import (
    CompanyDomainFactory,
    CompanyFactory,
    ContactFactory,
    DealFactory,
    MailboxFactory,
    SmartItemFactory,
    UserFactory,
)
from postroom.testing.mail import make_email

pytestmark = pytest.mark.django_db


def emails_on(item) -> list[str]:
    return [e.activity.message.subject for e in timeline_of(item) if e.activity_id]


@pytest.fixture
def manager():
    return UserFactory(username="maria", email="maria@acme.test")


def test_contact_deal_rule_makes_a_contact_and_an_open_deal_in_the_default_pipeline(arrive):
    owner = UserFactory()
    mailbox = MailboxFactory(crm_rule="contact-deal", owner=owner)
    email = make_email(sender="Anna Client <Anna@Customer.test>", subject="Quote for 40 chairs")
    result = capture_message(arrive(mailbox, email), mailbox)
    contact, deal = Contact.objects.get(), Deal.objects.get()
    assert set(result.created) == {contact, deal}
    assert contact.name == "Anna Client" and contact.primary_email == "anna@customer.test"
    assert (deal.title, deal.pipeline, deal.stage.name) == (
        "Quote for 40 chairs",
        Pipeline.default(),
        "New",
    )
    assert deal.contact == contact and deal.is_open and deal.source_mailbox == mailbox
    assert deal.responsible == owner == contact.responsible  # no crm_responsible: the owner
    assert emails_on(deal) == emails_on(contact) == ["Quote for 40 chairs"]
    assert Activity.objects.get().responsible == owner


def test_smart_rule_makes_an_item_of_the_mailbox_type_in_its_first_stage(arrive):
    support = SmartType.objects.get(slug="support-request")
    agent = UserFactory()
    mailbox = MailboxFactory(crm_rule="smart", crm_smart_type="support-request")
    mailbox.crm_responsible = agent
    mailbox.save()
    capture_message(arrive(mailbox, make_email(subject="Printer is broken")), mailbox)
    item = SmartItem.objects.get()
    assert (item.smart_type, item.stage, item.title) == (
        support,
        support.first_stage(),
        "Printer is broken",
    )
    assert item.responsible == agent and item.contact.primary_email == "anna@customer.test"
    assert emails_on(item) == ["Printer is broken"]
    assert not Lead.objects.exists() and not Deal.objects.exists()


def test_a_smart_rule_naming_a_missing_type_keeps_the_email_and_says_why(arrive):
    mailbox = MailboxFactory(crm_rule="smart", crm_smart_type="no-such-type")
    message = arrive(mailbox, make_email())
    result = capture_message(message, mailbox)
    assert "does not exist" in result.skipped
    assert not SmartItem.objects.exists() and not Contact.objects.exists()


def test_none_rule_creates_nothing(arrive):
    mailbox = MailboxFactory(crm_rule="none")
    result = capture_message(arrive(mailbox, make_email()), mailbox)
    assert result.skipped == "the mailbox's CRM rule is none"
    assert not Lead.objects.exists() and not Contact.objects.exists()
    assert not Activity.objects.exists()


def test_a_new_lead_notifies_the_mailbox_s_chosen_users(arrive):
    admin = UserFactory(username="admin", is_superuser=True)
    mailbox = MailboxFactory(crm_rule="lead")
    mailbox.crm_notify.set([admin])
    result = capture_message(arrive(mailbox, make_email(subject="Partnership")), mailbox)
    assert result.notified == 1
    note = Notification.objects.get(user=admin)
    assert "New lead “Partnership” from anna@customer.test" in note.text
    assert note.url == Lead.objects.get().get_absolute_url()
    # A second email of the same person is bound, not new: nobody is told again.
    capture_message(arrive(mailbox, make_email(subject="Re: Partnership")), mailbox)
    assert Notification.objects.count() == 1


def test_a_known_contact_s_email_lands_on_the_contact_company_and_open_deal(arrive):
    mailbox = MailboxFactory(crm_rule="lead")
    company = CompanyFactory(name="Customer Ltd")
    contact = ContactFactory(name="Anna", email="anna@customer.test", company=company)
    contact.emails.create(email="anna.private@home.test")
    deal = DealFactory(contact=contact, company=company)
    DealFactory(contact=contact, stage=Pipeline.default().stages.get(name="Won"))  # closed
    email = make_email(sender="ANNA.Private@Home.test", subject="Order update")
    result = capture_message(arrive(mailbox, email), mailbox)
    assert result.created == []
    assert set(result.bound) == {contact, company, deal}
    assert not Lead.objects.exists()
    assert emails_on(deal) == emails_on(contact) == emails_on(company) == ["Order update"]


def test_a_known_contact_without_an_open_deal_gets_one_under_the_contact_deal_rule(arrive):
    mailbox = MailboxFactory(crm_rule="contact-deal")
    contact = ContactFactory(email="anna@customer.test")
    won = DealFactory(contact=contact, stage=Pipeline.default().stages.get(name="Won"))
    result = capture_message(arrive(mailbox, make_email(subject="New order")), mailbox)
    new = Deal.objects.exclude(pk=won.pk).get()
    assert result.created == [new] and new.contact == contact and new.is_open
    assert Contact.objects.count() == 1


def test_a_known_contact_under_the_lead_rule_gets_no_lead(arrive):
    mailbox = MailboxFactory(crm_rule="lead")
    contact = ContactFactory(email="anna@customer.test")
    result = capture_message(arrive(mailbox, make_email()), mailbox)
    assert result.created == [] and result.bound == [contact]
    assert not Lead.objects.exists() and not Deal.objects.exists()


def test_a_known_contact_s_mail_joins_the_newest_open_item_of_the_mailbox_type(arrive):
    support = SmartType.objects.get(slug="support-request")
    mailbox = MailboxFactory(crm_rule="smart", crm_smart_type="support-request")
    contact = ContactFactory(email="anna@customer.test")
    SmartItemFactory(smart_type=support, contact=contact, title="Older ticket")
    newest = SmartItemFactory(smart_type=support, contact=contact, title="Newer ticket")
    SmartItemFactory(contact=contact, title="Other type")  # another smart type
    deal = DealFactory(contact=contact)
    result = capture_message(arrive(mailbox, make_email(subject="Still broken")), mailbox)
    assert set(result.bound) == {newest, contact} and result.created == []
    assert emails_on(deal) == []


def test_mail_from_a_lead_s_address_stays_on_the_lead(arrive):
    mailbox = MailboxFactory(crm_rule="contact-deal")
    lead = Lead.objects.create(title="Question", email="anna@customer.test")
    result = capture_message(arrive(mailbox, make_email()), mailbox)
    assert result.bound == [lead] and result.created == []
    assert not Contact.objects.exists()


def test_a_new_person_from_a_known_company_domain_joins_the_company(arrive):
    mailbox = MailboxFactory(crm_rule="contact-deal")
    domain = CompanyDomainFactory(domain="customer.test")
    result = capture_message(arrive(mailbox, make_email(sender="Bo <bo@Customer.test>")), mailbox)
    contact = Contact.objects.get()
    deal = Deal.objects.get()
    assert contact.company == domain.company and deal.company == domain.company
    assert set(result.created) == {contact, deal}
    assert emails_on(domain.company) == ["Price request"]


def test_a_known_domain_joins_no_one_when_the_mailbox_says_so(arrive):
    mailbox = MailboxFactory(crm_rule="lead", crm_join_company_domain=False)
    CompanyDomainFactory(domain="customer.test")
    capture_message(arrive(mailbox, make_email()), mailbox)
    assert Lead.objects.count() == 1 and not Contact.objects.exists()


def test_a_free_mail_domain_never_makes_a_sender_a_company_s_contact(arrive):
    from postroom.crm.models import CompanyDomain

    mailbox = MailboxFactory(crm_rule="lead")
    CompanyDomain.objects.create(company=CompanyFactory(), domain="gmail.com")  # by mistake
    capture_message(arrive(mailbox, make_email(sender="someone@gmail.com")), mailbox)
    assert Lead.objects.count() == 1 and not Contact.objects.exists()


def test_routing_to_managers_joins_the_open_deal_the_client_s_manager_owns(arrive, manager):
    mailbox = MailboxFactory(crm_rule="contact-deal", crm_route_to_manager=True)
    contact = ContactFactory(email="anna@customer.test", responsible=manager)
    managers = DealFactory(contact=contact, responsible=manager, title="Maria's deal")
    DealFactory(contact=contact, responsible=UserFactory(), title="Someone else's, newer")
    result = capture_message(arrive(mailbox, make_email()), mailbox)
    assert managers in result.bound and result.created == []


def test_routing_to_managers_makes_a_deal_for_the_manager_when_they_have_none(arrive, manager):
    mailbox = MailboxFactory(crm_rule="contact-deal", crm_route_to_manager=True)
    contact = ContactFactory(email="anna@customer.test", responsible=manager)
    other = DealFactory(contact=contact, responsible=UserFactory())
    result = capture_message(arrive(mailbox, make_email()), mailbox)
    new = Deal.objects.exclude(pk=other.pk).get()
    assert result.created == [new] and new.responsible == manager


def test_without_routing_a_client_s_mail_joins_the_newest_open_deal(arrive, manager):
    mailbox = MailboxFactory(crm_rule="contact-deal", crm_route_to_manager=False)
    contact = ContactFactory(email="anna@customer.test", responsible=manager)
    DealFactory(contact=contact, responsible=manager)
    newest = DealFactory(contact=contact, responsible=UserFactory())
    result = capture_message(arrive(mailbox, make_email()), mailbox)
    assert newest in result.bound and result.created == []


def test_routing_a_client_without_a_manager_creates_by_the_rule(arrive):
    owner = UserFactory()
    mailbox = MailboxFactory(crm_rule="contact-deal", crm_route_to_manager=True, owner=owner)
    ContactFactory(email="anna@customer.test")  # no responsible manager
    result = capture_message(arrive(mailbox, make_email()), mailbox)
    assert [type(i) for i in result.created] == [Deal]
    assert result.created[0].responsible == owner


def test_the_organisation_s_own_mail_between_colleagues_is_never_in_the_crm(arrive, settings):
    settings.POSTROOM = {**settings.POSTROOM, "INTERNAL_DOMAINS": ["acme.test"]}
    mailbox = MailboxFactory(crm_rule="lead")
    email = make_email(sender="bob@acme.test", to="carol@acme.test, sales@acme.test")
    result = capture_message(arrive(mailbox, email), mailbox)
    assert result.skipped == "sent by the organisation to its own people: internal mail"
    assert not Lead.objects.exists() and not Activity.objects.exists()


def test_outgoing_mail_is_bound_to_its_recipients_items_and_creates_nothing(arrive):
    UserFactory(email="bob@acme.test")
    mailbox = MailboxFactory(crm_rule="contact-deal")
    contact = ContactFactory(email="anna@customer.test")
    deal = DealFactory(contact=contact)
    lead = Lead.objects.create(title="Question", email="carl@other.test")
    email = make_email(
        sender="Bob <bob@acme.test>",
        to="Anna <anna@customer.test>, stranger@new.test",
        headers={"Cc": "carl@other.test"},
        subject="Your offer",
    )
    result = capture_message(arrive(mailbox, email), mailbox)
    assert result.direction == "out" and result.created == []
    assert set(result.bound) == {contact, deal, lead}
    assert Activity.objects.get().direction == "out"
    assert Contact.objects.count() == 1 and Deal.objects.count() == 1


def test_a_sent_folder_copy_is_outgoing_even_from_an_unlisted_address(arrive):
    mailbox = MailboxFactory(crm_rule="lead")
    contact = ContactFactory(email="anna@customer.test")
    email = make_email(sender="old-alias@acme.test", to="anna@customer.test", subject="Re: hi")
    result = capture_message(arrive(mailbox, email, folder="Sent", role="sent"), mailbox)
    assert result.direction == "out" and result.bound == [contact]
    assert not Lead.objects.exists()


def test_a_reply_from_the_organisation_lands_on_the_items_of_the_email_it_answers(arrive):
    UserFactory(email="bob@acme.test")
    mailbox = MailboxFactory(crm_rule="lead")
    capture_message(arrive(mailbox, make_email(message_id="<q1@customer.test>")), mailbox)
    lead = Lead.objects.get()
    lead.email = "changed@customer.test"  # the reply's recipient no longer matches
    lead.save()
    reply = make_email(sender="bob@acme.test", to="anna@customer.test",
                       subject="Re: Price request", in_reply_to="<q1@customer.test>")  # fmt: skip
    result = capture_message(arrive(mailbox, reply), mailbox)
    assert result.bound == [lead]
    assert emails_on(lead) == ["Re: Price request", "Price request"]


def test_a_batch_with_two_emails_of_a_new_sender_makes_one_lead(arrive):
    mailbox = MailboxFactory(crm_rule="lead")
    first = arrive(mailbox, make_email(subject="One"))
    second = arrive(mailbox, make_email(subject="Two"))
    results = capture_messages([first, second], mailbox)
    lead = Lead.objects.get()
    assert results[first.pk].created == [lead] and results[second.pk].bound == [lead]


def test_a_batch_with_two_emails_of_a_new_sender_makes_one_contact_and_deal(arrive):
    mailbox = MailboxFactory(crm_rule="contact-deal")
    messages = [arrive(mailbox, make_email(subject=s)) for s in ("One", "Two")]
    capture_messages(messages, mailbox)
    assert Contact.objects.count() == 1 and Deal.objects.count() == 1
    assert emails_on(Deal.objects.get()) == ["Two", "One"]


def test_senders_of_a_batch_are_resolved_with_a_fixed_number_of_queries():
    addresses = [f"person{i}@customer{i % 7}.test" for i in range(300)]
    for address in addresses[::3]:
        ContactFactory(email=address)
    Directory.lookup(addresses[:1])  # the organisation's internal domains, cached after
    counts = []
    for batch in (addresses[:30], addresses):
        with CaptureQueriesContext(connection) as queries:
            directory = Directory.lookup(batch)
        counts.append(len(queries))
    assert len(directory.contacts) == 100
    # Contacts, leads, company domains, the organisation's own people and mailboxes:
    # as many queries for 300 senders as for 30.
    assert counts[0] == counts[1] <= 5


def test_capturing_twice_changes_nothing(arrive):
    mailbox = MailboxFactory(crm_rule="smart", crm_smart_type="support-request")
    message = arrive(mailbox, make_email())
    capture_message(message, mailbox)
    again = capture_message(message, mailbox)
    assert again.created == [] and again.bound == []
    assert SmartItem.objects.count() == Contact.objects.count() == Activity.objects.count() == 1
    item_type = ContentType.objects.get_for_model(SmartItem)
    assert TimelineEntry.objects.filter(content_type=item_type, activity__isnull=False).count() == 1


def test_a_personal_mailbox_uses_its_own_rule(arrive):
    owner = UserFactory()
    mailbox = MailboxFactory(kind="personal", owner=owner, crm_rule="contact-deal")
    capture_message(arrive(mailbox, make_email()), mailbox)
    assert Deal.objects.get().responsible == owner


def test_open_stages_only_count_as_open(arrive):
    assert set(
        Stage.objects.filter(pipeline__is_default=True).values_list("semantics", flat=True)
    ) == {
        "open",
        "won",
        "lost",
    }


def test_a_batch_of_several_new_people_gives_each_their_own_contact_and_deal(arrive):
    mailbox = MailboxFactory(crm_rule="contact-deal")
    CompanyDomainFactory(domain="known.test")
    senders = ["a@one.test", "b@two.test", "c@known.test", "d@known.test", "a@one.test"]
    messages = [arrive(mailbox, make_email(sender=s, subject=s)) for s in senders]
    results = capture_messages(messages, mailbox)
    assert Contact.objects.count() == 4 and Deal.objects.count() == 4
    for deal in Deal.objects.all():
        assert deal.contact.primary_email == deal.title  # each person's own deal
        assert emails_on(deal) == [deal.title] * (2 if deal.title == "a@one.test" else 1)
    assert all(i.pk is not None for r in results.values() for i in r.created)
    assert Contact.objects.get(emails__email="d@known.test").company.domains.get().domain == (
        "known.test"
    )
