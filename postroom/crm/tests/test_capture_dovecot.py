"""Capture end to end: mail delivered to a real Dovecot (LMTP), synced, then the jobs
(ingest, capture) run, and the CRM is what each mailbox's rule says.

The example setup of the issue: sales@ makes leads, support@ makes "Support Request"
items, hr@ keeps mail out of the CRM, info@ makes leads and tells the administrator.
"""

import pytest

from postroom import jobs
from postroom.accounts.models import Notification
from postroom.crm.actions import CrmError, do_configure_mailbox_crm, do_save_to_crm
from postroom.crm.models import Activity, Contact, Deal, Lead, SmartItem
from postroom.crm.timeline import timeline_of
from postroom.mail.models import Message
from postroom.mailboxes.actions import ConnectionSettings, do_add_mailbox, do_grant_mailbox
from postroom.mailboxes.models import MailboxGrant
from postroom.sync.service import discover_folders, sync_mailbox
from postroom.testing.factories import (
    CompanyDomainFactory,
    ContactFactory,
    DealFactory,
    SmartTypeFactory,
    UserFactory,
)
from postroom.testing.fixtures import _take_user
from postroom.testing.mail import make_email

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]


def _connect(dovecot, user, name: str, rule: str, **settings):
    mailbox = do_add_mailbox(
        ConnectionSettings(
            address=user.address, name=name, imap_host=dovecot.host,
            imap_port=dovecot.imap_port, imap_security="none", username=user.username,
            password=user.password,
        ),
        crm_rule="none",
    )  # fmt: skip
    rule, _, smart_type = rule.partition(":")
    do_configure_mailbox_crm(mailbox, rule=rule, smart_type=smart_type, **settings)
    return mailbox


class Box:
    """A mailbox in Postroom and its user on Dovecot."""

    def __init__(self, dovecot, user, mailbox):
        self.dovecot, self.user, self.mailbox = dovecot, user, mailbox

    def receive(self, **email) -> Message:
        raw = make_email(to=self.user.address, **email)
        self.dovecot.deliver(raw, to=self.user.address)
        return self._sync()

    def sent(self, **email) -> Message:
        raw = make_email(sender=self.user.address, **email)
        self.dovecot.append(self.user.username, self.user.password, raw, folder="Sent")
        return self._sync()

    def _sync(self) -> Message:
        sync_mailbox(self.mailbox)
        jobs.drain_embedded_queue()
        return Message.objects.filter(copies__mailbox=self.mailbox).latest("pk")


@pytest.fixture
def admin(db):
    return UserFactory(username="admin", email="admin@acme.test", is_superuser=True)


@pytest.fixture
def boxes(dovecot, admin):
    """sales (lead), support (smart: Support Request), hr (none), info (lead + notify)."""
    # The migrations make "Support Request"; a transactional test's flush removed it.
    SmartTypeFactory(name="Support Request", slug="support-request")
    found = {}
    for name, rule, settings in [
        ("sales", "lead", {}),
        ("support", "smart:Support Request", {}),
        ("hr", "none", {}),
        ("info", "lead", {"notify": [admin]}),
    ]:
        user = _take_user(dovecot)
        found[name] = Box(dovecot, user, _connect(dovecot, user, name.title(), rule, **settings))
    return found


def subjects_on(item) -> list[str]:
    return [e.activity.message.subject for e in timeline_of(item) if e.activity_id]


def test_the_example_setup_puts_each_mailbox_s_mail_where_its_rule_says(boxes, admin):
    boxes["sales"].receive(sender="Anna <anna@customer.test>", subject="Price for 40 chairs")
    boxes["support"].receive(sender="Ben <ben@client.test>", subject="Printer is broken")
    boxes["hr"].receive(sender="Cleo <cleo@jobs.test>", subject="My application")
    boxes["info"].receive(sender="Dan <dan@partner.test>", subject="Partnership")

    sales_lead = Lead.objects.get(source_mailbox=boxes["sales"].mailbox)
    assert (sales_lead.email, subjects_on(sales_lead)) == (
        "anna@customer.test",
        ["Price for 40 chairs"],
    )
    ticket = SmartItem.objects.get()
    assert ticket.smart_type.name == "Support Request" and ticket.stage.name == "New"
    assert ticket.contact.primary_email == "ben@client.test"
    assert subjects_on(ticket) == ["Printer is broken"]
    assert not Contact.objects.filter(emails__email="cleo@jobs.test").exists()
    assert not Activity.objects.filter(subject="My application").exists()
    info_lead = Lead.objects.get(source_mailbox=boxes["info"].mailbox)
    assert info_lead.email == "dan@partner.test"
    [note] = Notification.objects.filter(user=admin)
    assert "New lead “Partnership” from dan@partner.test" in note.text
    assert Lead.objects.count() == 2


def test_a_known_contact_s_mail_lands_on_its_open_deal_and_creates_nothing(boxes):
    contact = ContactFactory(name="Anna", email="anna@customer.test")
    contact.emails.create(email="anna@home.test")
    deal = DealFactory(contact=contact, title="40 chairs")
    boxes["sales"].receive(sender="Anna <Anna@Home.test>", subject="Delivery date?")
    assert subjects_on(deal) == subjects_on(contact) == ["Delivery date?"]
    assert not Lead.objects.exists() and Deal.objects.count() == 1


def test_a_new_person_of_a_known_company_joins_it_and_gets_a_ticket(boxes):
    domain = CompanyDomainFactory(domain="client.test", company__name="Client GmbH")
    boxes["support"].receive(sender="Eve <eve@client.test>", subject="Login fails")
    contact = Contact.objects.get()
    assert contact.company == domain.company
    assert SmartItem.objects.get().company == domain.company
    assert subjects_on(domain.company) == ["Login fails"]


def test_routing_to_managers_puts_a_client_s_mail_on_their_manager_s_deal(boxes, dovecot):
    maria = UserFactory(username="maria")
    user = _take_user(dovecot)
    box = Box(dovecot, user, _connect(dovecot, user, "Orders", "contact-deal",
                                      route_to_manager=True))  # fmt: skip
    contact = ContactFactory(email="anna@customer.test", responsible=maria)
    marias = DealFactory(contact=contact, responsible=maria, title="Maria's")
    DealFactory(contact=contact, responsible=UserFactory(), title="Newer, someone else's")
    box.receive(subject="About my order")
    assert subjects_on(marias) == ["About my order"]
    # With the option off a client without an open deal of theirs gets a new one.
    box.mailbox.crm_route_to_manager = False
    box.mailbox.save()
    ContactFactory(email="new@client.test", responsible=maria)
    box.receive(sender="new@client.test", subject="First order")
    assert Deal.objects.get(title="First order").responsible is None  # no default set


def test_sent_mail_is_bound_to_the_recipients_items_as_outgoing(boxes):
    discover_folders(boxes["sales"].mailbox)
    boxes["sales"].receive(sender="Anna <anna@customer.test>", subject="Price request")
    lead = Lead.objects.get()
    boxes["sales"].sent(to="anna@customer.test", subject="Re: Price request")
    activity = Activity.objects.get(subject="Re: Price request")
    assert activity.direction == "out"
    assert sorted(subjects_on(lead)) == ["Price request", "Re: Price request"]
    assert Lead.objects.count() == 1


def test_machine_mail_and_internal_mail_stay_out_and_saving_them_says_why(boxes, admin):
    sales = boxes["sales"]
    do_grant_mailbox(sales.mailbox, admin, MailboxGrant.Level.READ)
    auto = sales.receive(sender="anna@customer.test", subject="Out of office",
                         headers={"Auto-Submitted": "auto-replied"})  # fmt: skip
    UserFactory(username="bob", email="bob@acme.test")
    internal = sales.receive(sender="bob@acme.test", subject="Lunch?")
    assert not Lead.objects.exists() and not Activity.objects.exists()
    with pytest.raises(CrmError, match="auto-reply"):
        do_save_to_crm(auto, admin, create="lead")
    with pytest.raises(CrmError, match="between the organisation's own people"):
        do_save_to_crm(internal, admin, create="lead")


def test_mail_of_a_mailbox_without_crm_is_saved_by_hand(boxes, admin):
    hr = boxes["hr"]
    message = hr.receive(sender="Cleo <cleo@jobs.test>", subject="My application")
    [lead] = do_save_to_crm(message, admin, create="lead")
    assert subjects_on(lead) == ["My application"] and lead.responsible == admin
