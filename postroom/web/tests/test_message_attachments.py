"""Attachments on the conversation page and their download; quoted history folded away."""

from email.message import EmailMessage

import pytest
from django.urls import reverse

from postroom.mail.ingest import FetchedMessage, parse_stored, store_copy
from postroom.mail.threads import thread_message
from postroom.mailboxes.actions import do_grant_mailbox
from postroom.testing.factories import MailboxFactory, UserFactory

pytestmark = pytest.mark.django_db

PDF = b"%PDF-1.4 price list"


def _email(text: str = "Prices attached.", html: str | None = None) -> bytes:
    msg = EmailMessage()
    msg["From"] = "Anna <anna@customer.test>"
    msg["To"] = "sales@acme.test"
    msg["Subject"] = "Prices"
    msg.set_content(text)
    if html:
        msg.add_alternative(html, subtype="html")
    msg.add_attachment(PDF, maintype="application", subtype="pdf", filename="Preisliste März.pdf")
    return msg.as_bytes()


@pytest.fixture
def mailbox():
    return MailboxFactory(name="Sales")


def _arrive(mailbox, raw):
    message = parse_stored(store_copy(mailbox.folders.get(), 1, FetchedMessage(1, raw)).message)
    return message, thread_message(message, mailbox)


@pytest.fixture
def reader(client, mailbox):
    user = UserFactory()
    do_grant_mailbox(mailbox, user)
    client.force_login(user)
    return user


def test_the_conversation_page_lists_attachments_with_names_and_sizes(client, reader, mailbox):
    message, conversation = _arrive(mailbox, _email())
    attachment = message.attachments.get()
    response = client.get(reverse("web:conversation", args=[conversation.pk]))
    url = reverse("web:message_attachment", args=[message.pk, attachment.pk])
    assert f'href="{url}"'.encode() in response.content
    assert "Preisliste März.pdf".encode() in response.content
    assert b"19\xc2\xa0bytes" in response.content  # filesizeformat's no-break space


def test_it_downloads_an_attachment_with_its_real_name_and_type(client, reader, mailbox):
    message, _ = _arrive(mailbox, _email())
    attachment = message.attachments.get()
    response = client.get(reverse("web:message_attachment", args=[message.pk, attachment.pk]))
    assert response.status_code == 200
    assert response.content == PDF
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == (
        "attachment; filename=\"Preisliste M_rz.pdf\"; filename*=UTF-8''Preisliste%20M%C3%A4rz.pdf"
    )
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response["Content-Security-Policy"]


def test_it_hides_attachments_of_mailboxes_the_user_cannot_read(client, mailbox):
    message, _ = _arrive(mailbox, _email())
    attachment = message.attachments.get()
    client.force_login(UserFactory())
    response = client.get(reverse("web:message_attachment", args=[message.pk, attachment.pk]))
    assert response.status_code == 404


def test_it_does_not_serve_an_attachment_under_another_message(client, reader, mailbox):
    message, _ = _arrive(mailbox, _email())
    other = MailboxFactory()
    foreign = parse_stored(
        store_copy(other.folders.get(), 1, FetchedMessage(1, _email("other"))).message
    )
    url = reverse("web:message_attachment", args=[message.pk, foreign.attachments.get().pk])
    assert client.get(url).status_code == 404


def test_the_download_needs_a_login(client, mailbox):
    message, _ = _arrive(mailbox, _email())
    url = reverse("web:message_attachment", args=[message.pk, message.attachments.get().pk])
    response = client.get(url)
    assert response.status_code == 302 and response.url.startswith(reverse("login"))


def test_the_conversation_page_folds_quoted_text_away(client, reader, mailbox):
    text = "Yes, agreed.\n\nOn Mon, 3 Mar 2025 at 10:00, Bob <bob@acme.test> wrote:\n> Old offer\n"
    _, conversation = _arrive(mailbox, _email(text))
    page = client.get(reverse("web:conversation", args=[conversation.pk])).content.decode()
    shown, _, folded = page.partition('<details class="quoted"><summary>Show quoted text</summary>')
    assert "Yes, agreed." in shown and "Old offer" not in shown
    assert "&gt; Old offer" in folded


def test_the_html_body_folds_quoted_text_away(client, reader, mailbox):
    html = '<p>Yes, agreed.</p><div class="gmail_quote">On Monday Bob wrote:<p>Old</p></div>'
    message, _ = _arrive(mailbox, _email(html=html))
    body = client.get(reverse("web:message_body", args=[message.pk])).content.decode()
    assert "<p>Yes, agreed.</p><details><summary>Show quoted text</summary>" in body
