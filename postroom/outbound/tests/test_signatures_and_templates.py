"""Signatures (a user's own, a mailbox's), templates, and placeholders resolved from the
conversation's CRM item when an email is sent; unknown placeholders stop the send."""

import pytest
from django.urls import reverse

from postroom.mail.models import ConversationMessage
from postroom.mailboxes.actions import do_grant_mailbox
from postroom.mailboxes.models import MailboxGrant
from postroom.outbound.models import MessageTemplate, OutboxMessage, Signature
from postroom.outbound.placeholders import conversation_items
from postroom.testing.factories import UserFactory

from .conftest import receive, run_jobs

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def manager(sales):
    user = UserFactory(username="maria", first_name="Maria", last_name="Manager")
    do_grant_mailbox(sales, user, MailboxGrant.Level.MANAGE)
    return user


def test_a_manager_sets_the_mailbox_signature_and_a_replier_may_not(client, sales, alice, manager):
    url = reverse("web:mailbox_signature", args=[sales.pk])
    client.force_login(alice)
    assert client.get(url).status_code == 403
    assert client.post(url, {"html": "<div>x</div>"}).status_code == 403
    assert client.get(reverse("web:templates", args=[sales.pk])).status_code == 403
    client.force_login(UserFactory())
    assert client.get(url).status_code == 404  # a stranger does not learn it exists

    client.force_login(manager)
    response = client.post(
        url, {"html": "<div>ACME Sales · {mailbox_name}</div><script>x</script>"}
    )
    assert response.status_code == 302
    assert Signature.objects.get(mailbox=sales).html == "<div>ACME Sales · {mailbox_name}</div>"


def test_each_user_sets_their_own_signature_and_new_mail_carries_both(client, sales, alice):
    Signature.objects.create(mailbox=sales, html="<div>ACME Sales</div>")
    client.force_login(alice)
    response = client.post(reverse("web:signatures"), {"html": "<div>Alice Smith</div>"})
    assert response.status_code == 302
    assert Signature.objects.get(user=alice).html == "<div>Alice Smith</div>"
    html = client.get(reverse("web:compose", args=[sales.pk])).context["html"]
    assert html.index("<div>-- </div><div>Alice Smith</div>") < html.index("ACME Sales")

    bob = UserFactory(first_name="Bob")
    do_grant_mailbox(sales, bob, MailboxGrant.Level.REPLY)
    client.force_login(bob)
    client.post(reverse("web:signatures"), {"html": "<div>Bob Jones</div>"})
    bobs = client.get(reverse("web:compose", args=[sales.pk])).context["html"]
    assert "Bob Jones" in bobs and "Alice Smith" not in bobs
    client.force_login(alice)
    alices = client.get(reverse("web:compose", args=[sales.pk])).context["html"]
    assert "Alice Smith" in alices and "Bob Jones" not in alices
    assert Signature.objects.get(user=alice).html == "<div>Alice Smith</div>"


def test_an_unknown_placeholder_in_a_signature_or_template_is_refused(client, sales, manager):
    client.force_login(manager)
    page = client.post(reverse("web:signatures"), {"html": "<div>{full_name}</div>"})
    assert "unknown placeholder {full_name}" in page.content.decode()
    assert not Signature.objects.exists()
    form = {"name": "Price", "subject": "Prices for {deal}", "html": "<div>Hi</div>"}
    page = client.post(reverse("web:template_new", args=[sales.pk]), form)
    assert "unknown placeholder {deal}" in page.content.decode()
    assert not MessageTemplate.objects.exists()


def test_a_manager_keeps_templates_that_the_compose_form_inserts(client, sales, alice, manager):
    client.force_login(manager)
    form = {
        "name": "Price list",
        "subject": "Our prices",
        "html": "<div>Dear {contact_name}, our prices:</div>",
    }
    assert client.post(reverse("web:template_new", args=[sales.pk]), form).status_code == 302
    template = MessageTemplate.objects.get()
    listing = client.get(reverse("web:templates", args=[sales.pk]))
    assert "Price list" in listing.content.decode()
    edit = reverse("web:template_edit", args=[sales.pk, template.pk])
    client.post(edit, {**form, "name": "Prices"})
    assert MessageTemplate.objects.get().name == "Prices"

    client.force_login(alice)
    url = reverse("web:compose", args=[sales.pk])
    page = client.post(
        url,
        {
            "action": "template",
            "template": template.pk,
            "to": "anna@customer.test",
            "body_html": "<div>Kind regards</div>",
            "token": "t",
        },
    )
    assert page.status_code == 200
    assert page.context["html"] == (
        "<div>Dear {contact_name}, our prices:</div><div>Kind regards</div>"
    )
    assert page.context["form"]["subject"].value() == "Our prices"

    client.force_login(manager)
    client.post(reverse("web:template_delete", args=[sales.pk, template.pk]))
    assert not MessageTemplate.objects.exists()


def test_placeholders_are_filled_from_the_conversations_crm_item(client, sales, alice, smtp_server):
    parent = receive(sales, message_id="<ask@customer.test>", subject="Chairs")
    conversation = ConversationMessage.objects.get(message=parent).conversation
    [item, *_] = conversation_items(conversation)  # what capture made of the sender
    item.responsible = alice
    item.save()
    client.force_login(alice)
    url = reverse("web:reply", args=[conversation.pk])
    page = client.get(url)
    shown = dict(page.context["placeholders"])
    assert shown["{contact_name}"] == "Anna Client"
    assert shown["{mailbox_name}"] == "Sales"
    form = {
        "to": "anna@customer.test",
        "subject": "Re: Chairs for {contact_name}",
        "body_html": "<div>Dear {contact_name}, {responsible_name} from {mailbox_name}."
        "{deal_title}</div>",
        "token": page.context["form"].initial["token"],
    }
    assert client.post(url, form).status_code == 302
    run_jobs()
    [mail] = smtp_server.wait_for(1)
    sent = mail.message
    assert sent["Subject"] == "Re: Chairs for Anna Client"
    text = sent.get_body(("plain",)).get_content()
    assert "Dear Anna Client, Alice Smith from Sales." in text
    assert OutboxMessage.objects.get().subject == "Re: Chairs for Anna Client"


def test_an_unknown_placeholder_is_shown_in_the_form_and_nothing_is_sent(
    client, sales, alice, smtp_server
):
    client.force_login(alice)
    url = reverse("web:compose", args=[sales.pk])
    token = client.get(url).context["form"].initial["token"]
    form = {"to": "a@customer.test", "body_html": "<div>Hi {first_name}</div>", "token": token}
    page = client.post(url, form)
    assert page.status_code == 200
    assert "unknown placeholder {first_name}" in page.content.decode()
    assert not OutboxMessage.objects.exists()
    assert page.context["draft"] is not None  # what was written is kept
    run_jobs()
    assert smtp_server.messages == []
