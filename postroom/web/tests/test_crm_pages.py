"""The CRM pages: lists with filters, item pages, create and edit forms, comments, tasks."""

import pytest
from django.urls import reverse

from postroom.accounts.roles import do_give_default_roles
from postroom.crm.actions import (
    do_bind_activity,
    do_create_lead_from_message,
    do_record_email_activity,
)
from postroom.crm.models import (
    Company,
    Contact,
    Deal,
    Lead,
    Pipeline,
    SmartItem,
    Task,
    TimelineEntry,
)
from postroom.mail.ingest import FetchedMessage, parse_stored, store_copy
from postroom.mail.threads import thread_message
from postroom.mailboxes.actions import do_grant_mailbox
from postroom.testing.factories import (
    CompanyDomainFactory,
    CompanyFactory,
    ContactFactory,
    DealFactory,
    LeadFactory,
    MailboxFactory,
    SmartItemFactory,
    SmartTypeFactory,
    UserFactory,
)
from postroom.testing.mail import make_email

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice(client):
    """A colleague with the default role, Manager: reads the department's items (she is
    in none: her own), creates any, edits her own."""
    user = UserFactory(username="alice")
    do_give_default_roles(user)
    client.force_login(user)
    return user


@pytest.fixture
def mailbox():
    return MailboxFactory(name="Sales")


def _message(mailbox, *, uid=1, subject="Quote for 40 chairs", body="Could you send a quote?"):
    copy = store_copy(
        mailbox.folders.get(),
        1,
        FetchedMessage(uid=uid, raw=make_email(subject=subject, body=body)),
    )
    return parse_stored(copy.message)


# ------------------------------------------------------------------- lists


def test_the_crm_menu_lists_the_entities_and_each_smart_type(client, alice):
    SmartTypeFactory(name="Warranty Claim", slug="warranty-claim")
    page = client.get(reverse("web:leads")).content.decode()
    for label in ("Leads", "Contacts", "Companies", "Deals", "Support Request", "Warranty Claim"):
        assert label in page
    assert reverse("web:smart_items", args=["warranty-claim"]) in page


def test_each_list_shows_only_items_the_user_may_read(client, alice):
    mine = [
        LeadFactory(title="My lead", responsible=alice),
        ContactFactory(name="My contact", responsible=alice),
        CompanyFactory(name="My company", responsible=alice),
        DealFactory(title="My deal", responsible=alice),
        SmartItemFactory(title="My request", responsible=alice, smart_type=_support()),
    ]
    LeadFactory(title="Hidden lead")
    ContactFactory(name="Hidden contact")
    CompanyFactory(name="Hidden company")
    DealFactory(title="Hidden deal")
    SmartItemFactory(title="Hidden request", smart_type=_support())
    urls = [
        reverse("web:leads"),
        reverse("web:contacts"),
        reverse("web:companies"),
        reverse("web:deals"),
        reverse("web:smart_items", args=["support-request"]),
    ]
    for url, item in zip(urls, mine, strict=True):
        page = client.get(url).content.decode()
        assert str(item) in page, url
        assert "Hidden" not in page, url


def _support():
    from postroom.crm.models import SmartType

    return SmartType.objects.get(slug="support-request")


def test_the_search_finds_contacts_by_any_of_their_emails(client, alice):
    anna = ContactFactory(name="Anna Client", responsible=alice, email="anna@customer.test")
    anna.emails.create(email="anna.private@home.test")
    ContactFactory(name="Bert Other", responsible=alice, email="bert@other.test")
    page = client.get(reverse("web:contacts"), {"q": "private@home"}).content.decode()
    assert "Anna Client" in page and "Bert Other" not in page


def test_deal_filters_by_stage_pipeline_and_responsible(client, alice):
    bob = UserFactory(username="bob")
    sales = Pipeline.default()
    won = sales.stages.get(name="Won")
    DealFactory(title="Won deal", responsible=alice, stage=won)
    DealFactory(title="New deal", responsible=alice)
    client.force_login(UserFactory(username="root", is_superuser=True))
    DealFactory(title="Bob's deal", responsible=bob)
    page = client.get(reverse("web:deals"), {"stage": won.pk}).content.decode()
    assert "Won deal" in page and "New deal" not in page
    page = client.get(reverse("web:deals"), {"stage": "open"}).content.decode()
    assert "New deal" in page and "Won deal" not in page
    page = client.get(reverse("web:deals"), {"responsible": bob.pk}).content.decode()
    assert "Bob&#x27;s deal" in page and "New deal" not in page
    page = client.get(reverse("web:deals"), {"pipeline": sales.pk, "q": "won"}).content.decode()
    assert "Won deal" in page and "New deal" not in page


def test_lead_status_filter_and_pagination_keep_the_filters(client, alice):
    for i in range(55):
        LeadFactory(title=f"Open lead {i}", responsible=alice)
    LeadFactory(title="Junk lead", responsible=alice, status=Lead.Status.JUNK)
    page = client.get(reverse("web:leads"), {"status": "", "stage": "new"}).content.decode()
    assert "Junk lead" not in page
    assert "Page 1 of 2" in page
    assert "stage=new&amp;page=2" in page or "page=2&amp;stage=new" in page
    page = client.get(reverse("web:leads"), {"stage": "junk"}).content.decode()
    assert "Junk lead" in page and "Open lead" not in page


# -------------------------------------------------------------- item pages


def test_a_contact_page_shows_emails_phones_company_and_deals(client, alice):
    company = CompanyFactory(name="Customer Ltd", responsible=alice)
    contact = ContactFactory(
        name="Anna Client", company=company, responsible=alice, email="anna@customer.test"
    )
    contact.phones.create(phone="+49 30 1234")
    DealFactory(title="40 chairs", contact=contact, responsible=alice)
    page = client.get(reverse("web:contact", args=[contact.pk])).content.decode()
    for text in ("anna@customer.test", "+49 30 1234", "Customer Ltd", "40 chairs"):
        assert text in page


def test_a_company_page_shows_domains_contacts_and_deals(client, alice):
    company = CompanyFactory(name="Customer Ltd", responsible=alice)
    CompanyDomainFactory(company=company, domain="customer.test")
    ContactFactory(name="Anna Client", company=company, responsible=alice)
    DealFactory(title="40 chairs", company=company, responsible=alice)
    page = client.get(reverse("web:company", args=[company.pk])).content.decode()
    for text in ("customer.test", "Anna Client", "40 chairs"):
        assert text in page


def test_a_smart_item_page_shows_its_fields(client, alice):
    support = _support()
    support.fields.create(name="Product", key="product", kind="text")
    item = SmartItemFactory(
        smart_type=support, title="Broken chair", responsible=alice, data={"product": "Chair X"}
    )
    page = client.get(reverse("web:smart_item", args=[item.pk])).content.decode()
    assert "Broken chair" in page and "Product" in page and "Chair X" in page


def test_a_lead_email_shows_subject_snippet_and_conversation_link(client, alice, mailbox):
    do_grant_mailbox(mailbox, alice)
    message = _message(mailbox)
    conversation = thread_message(message, mailbox)
    lead = do_create_lead_from_message(message, mailbox, responsible=alice)
    page = client.get(reverse("web:lead", args=[lead.pk])).content.decode()
    assert "Incoming email" in page and "Could you send a quote?" in page
    assert reverse("web:conversation", args=[conversation.pk]) in page


def test_an_email_in_an_unreadable_mailbox_shows_its_subject_but_not_its_body(client, alice):
    hidden = MailboxFactory(name="HR")
    message = _message(hidden, subject="Chairs order", body="Secret body text")
    thread_message(message, hidden)
    lead = do_create_lead_from_message(message, hidden)
    lead.responsible = alice
    lead.save()
    page = client.get(reverse("web:lead", args=[lead.pk])).content.decode()
    assert "Chairs order" in page
    assert "Secret body text" not in page
    assert "In a mailbox you cannot read" in page
    assert "/conversations/" not in page


def test_a_contact_timeline_shows_its_deals_progress_and_each_email_once(client, alice, mailbox):
    do_grant_mailbox(mailbox, alice)
    contact = ContactFactory(name="Anna", responsible=alice)
    deal = DealFactory(title="40 chairs", contact=contact, responsible=alice)
    client.post(
        reverse("web:deal_stage", args=[deal.pk]),
        {"stage": deal.pipeline.stages.get(name="In progress").pk},
    )
    message = _message(mailbox, subject="Chairs again")
    activity = do_record_email_activity(message, direction="in")
    do_bind_activity(activity, contact)
    do_bind_activity(activity, deal)
    page = client.get(reverse("web:contact", args=[contact.pk])).content.decode()
    assert "New → In progress" in page
    assert "40 chairs" in page
    assert page.count("Chairs again") == 1


# ---------------------------------------------------------- create and edit


def test_creating_a_contact_with_several_emails_and_phones(client, alice):
    company = CompanyFactory(name="Customer Ltd", responsible=alice)
    response = client.post(
        reverse("web:contact_create"),
        {
            "name": "Anna Client",
            "company": company.pk,
            "responsible": alice.pk,
            "emails": "Anna@Customer.test\nanna@home.test",
            "phones": "+49 30 1\n+49 170 2",
        },
    )
    contact = Contact.objects.get(name="Anna Client")
    assert response.status_code == 302 and response.url == contact.get_absolute_url()
    assert contact.primary_email == "anna@customer.test"
    assert sorted(contact.emails.values_list("email", flat=True)) == [
        "anna@customer.test",
        "anna@home.test",
    ]
    assert contact.phones.count() == 2 and contact.company == company
    assert TimelineEntry.objects.filter(object_id=contact.pk, kind="created").exists()


def test_editing_a_contact_replaces_its_emails_and_the_first_is_primary(client, alice):
    contact = ContactFactory(name="Anna", responsible=alice, email="old@customer.test")
    form = client.get(reverse("web:contact_edit", args=[contact.pk])).content.decode()
    assert "old@customer.test" in form
    client.post(
        reverse("web:contact_edit", args=[contact.pk]),
        {"name": "Anna C", "emails": "new@customer.test\nold@customer.test", "phones": ""},
    )
    contact.refresh_from_db()
    assert contact.name == "Anna C"
    assert contact.primary_email == "new@customer.test"
    assert contact.emails.count() == 2


def test_an_invalid_email_is_refused_with_its_field_named(client, alice):
    response = client.post(reverse("web:contact_create"), {"name": "X", "emails": "not-an-email"})
    assert response.status_code == 200
    assert "is not an email address" in response.content.decode()
    assert not Contact.objects.exists()


def test_creating_a_company_with_domains_and_a_taken_domain_is_refused(client, alice):
    client.post(
        reverse("web:company_create"),
        {"name": "Customer Ltd", "domains": "customer.test\n@cust.test"},
    )
    company = Company.objects.get(name="Customer Ltd")
    assert sorted(company.domains.values_list("domain", flat=True)) == [
        "cust.test",
        "customer.test",
    ]
    response = client.post(
        reverse("web:company_create"), {"name": "Copy", "domains": "customer.test"}
    )
    assert "already a domain of Customer Ltd" in response.content.decode()
    assert not Company.objects.filter(name="Copy").exists()


def test_creating_a_deal_with_pipeline_stage_amount_contact_and_company(client, alice):
    contact = ContactFactory(name="Anna", responsible=alice)
    company = CompanyFactory(name="Customer Ltd", responsible=alice)
    sales = Pipeline.default()
    stage = sales.stages.get(name="In progress")
    form = client.get(reverse("web:deal_create"), {"contact": contact.pk}).content.decode()
    assert f'<option value="{contact.pk}" selected>' in form
    response = client.post(
        reverse("web:deal_create"),
        {
            "title": "40 chairs",
            "pipeline": sales.pk,
            "stage": stage.pk,
            "amount": "1200.50",
            "contact": contact.pk,
            "company": company.pk,
            "responsible": alice.pk,
        },
    )
    deal = Deal.objects.get(title="40 chairs")
    assert response.url == deal.get_absolute_url()
    assert (deal.stage, str(deal.amount), deal.contact, deal.company) == (
        stage,
        "1200.50",
        contact,
        company,
    )


def test_a_stage_of_another_pipeline_is_refused(client, alice):
    other = Pipeline.objects.create(name="Rentals")
    other_stage = other.stages.create(name="Asked", sort=0)
    response = client.post(
        reverse("web:deal_create"),
        {"title": "X", "pipeline": Pipeline.default().pk, "stage": other_stage.pk},
    )
    assert response.status_code == 200
    assert "is a stage of Rentals" in response.content.decode()
    assert not Deal.objects.exists()


def test_editing_a_deal_stage_is_recorded_on_its_timeline(client, alice):
    deal = DealFactory(title="40 chairs", responsible=alice)
    won = deal.pipeline.stages.get(name="Won")
    client.post(
        reverse("web:deal_edit", args=[deal.pk]),
        {
            "title": "40 chairs",
            "pipeline": deal.pipeline.pk,
            "stage": won.pk,
            "responsible": alice.pk,
        },
    )
    deal.refresh_from_db()
    assert deal.stage == won and deal.closed_at is not None
    assert TimelineEntry.objects.filter(object_id=deal.pk, kind="stage").count() == 1


def test_a_smart_item_form_renders_and_validates_its_type_fields(client, alice):
    support = _support()
    support.fields.create(name="Product", key="product", kind="text", sort=0)
    support.fields.create(name="Units", key="units", kind="number", sort=1)
    support.fields.create(name="Due", key="due", kind="date", sort=2)
    support.fields.create(name="Priority", key="priority", kind="choice", choices=["Low", "High"])
    url = reverse("web:smart_item_create", args=["support-request"])
    form = client.get(url).content.decode()
    for name in ("data_product", "data_units", "data_due", "data_priority"):
        assert f'name="{name}"' in form
    bad = client.post(url, {"title": "Broken", "data_units": "many", "data_priority": "Urgent"})
    assert bad.status_code == 200 and not SmartItem.objects.exists()
    assert "Enter a number" in bad.content.decode()
    client.post(
        url,
        {
            "title": "Broken chair",
            "data_product": "Chair X",
            "data_units": "3",
            "data_due": "2030-01-31",
            "data_priority": "High",
        },
    )
    item = SmartItem.objects.get()
    assert item.data == {"product": "Chair X", "units": 3, "due": "2030-01-31", "priority": "High"}
    assert item.stage == support.first_stage() and item.responsible == alice


def test_creating_and_editing_a_lead(client, alice):
    client.post(
        reverse("web:lead_create"),
        {"title": "Chairs", "name": "Anna", "email": "Anna@Customer.test", "status": "new"},
    )
    lead = Lead.objects.get()
    assert lead.email == "anna@customer.test"
    lead.responsible = alice
    lead.save()
    client.post(
        reverse("web:lead_edit", args=[lead.pk]),
        {"title": "Chairs and tables", "email": "anna@customer.test", "status": "in_progress"},
    )
    lead.refresh_from_db()
    assert (lead.title, lead.status) == ("Chairs and tables", "in_progress")


# ------------------------------------------------ comments, tasks, conversion


def test_a_comment_and_a_task_appear_on_the_timeline_and_the_task_completes(client, alice):
    deal = DealFactory(title="40 chairs", responsible=alice)
    client.post(reverse("web:crm_comment", args=["deal", deal.pk]), {"text": "Called, keen."})
    client.post(
        reverse("web:crm_task_create", args=["deal", deal.pk]),
        {"title": "Send the quote", "responsible": alice.pk, "deadline": "2030-01-31T10:00"},
    )
    page = client.get(reverse("web:deal", args=[deal.pk])).content.decode()
    assert "Called, keen." in page and "Send the quote" in page and "Mark done" in page
    task = Task.objects.get()
    assert task.deadline.year == 2030 and task.responsible == alice
    client.post(reverse("web:crm_task_done", args=[task.pk]))
    task.refresh_from_db()
    assert task.is_done
    assert "Mark done" not in client.get(reverse("web:deal", args=[deal.pk])).content.decode()


def test_the_convert_button_turns_a_lead_into_contact_and_deal_with_its_emails(
    client, alice, mailbox
):
    do_grant_mailbox(mailbox, alice)
    lead = do_create_lead_from_message(_message(mailbox), mailbox)
    lead.responsible = alice
    lead.save()
    page = client.get(reverse("web:lead", args=[lead.pk])).content.decode()
    assert "Convert to contact and deal" in page
    response = client.post(reverse("web:lead_convert", args=[lead.pk]))
    lead.refresh_from_db()
    assert lead.status == Lead.Status.CONVERTED
    assert response.url == lead.converted_deal.get_absolute_url()
    deal_page = client.get(response.url).content.decode()
    assert "Could you send a quote?" in deal_page
