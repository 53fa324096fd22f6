"""Drafts saved as you type (the compose form's autosave), restored on reopening, the
editor's HTML cleaned with a text alternative, and attachments: uploaded, size-limited,
stored once by SHA-256, and kept (or not) when forwarding."""

import hashlib
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from postroom.mail.models import AttachmentBlob, ConversationMessage
from postroom.outbound.models import Draft, OutboxMessage

from .conftest import receive, run_jobs

pytestmark = pytest.mark.django_db(transaction=True)

AUTOSAVE = {"HTTP_X_REQUESTED_WITH": "fetch"}


@pytest.fixture
def logged_in(client, alice):
    client.force_login(alice)
    return client


def _compose_url(sales) -> str:
    return reverse("web:compose", args=[sales.pk])


def _token(client, url) -> str:
    return client.get(url).context["form"].initial["token"]


def _sent(smtp_server) -> EmailMessage:
    [mail] = smtp_server.wait_for(1)
    return message_from_bytes(mail.data, policy=policy.default)


def test_autosave_keeps_a_draft_that_reopening_restores(logged_in, sales):
    url = _compose_url(sales)
    form = {"to": "anna@custo", "subject": "Offer", "action": "save", "token": "t1"}
    html = '<div>Hello <b>Anna</b><script>alert(1)</script><img src="https://x.test/p.gif"></div>'
    first = logged_in.post(url, {**form, "body_html": html}, **AUTOSAVE)
    assert first.status_code == 200
    draft = Draft.objects.get()
    assert first.json()["draft"] == draft.pk
    # Half-typed addresses are kept as typed; the HTML is cleaned on the server.
    assert draft.to == "anna@custo"
    assert draft.html == "<div>Hello <b>Anna</b></div>"

    # The next save updates the same draft.
    again = {**form, "draft": draft.pk, "to": "anna@customer.test", "body_html": "<p>v2</p>"}
    logged_in.post(url, again, **AUTOSAVE)
    assert Draft.objects.get().html == "<p>v2</p>"

    reopened = logged_in.get(url)
    assert reopened.context["draft"] == draft
    assert reopened.context["form"].initial["to"] == "anna@customer.test"
    assert reopened.context["html"] == "<p>v2</p>"


def test_sending_uses_the_html_with_a_text_part_and_deletes_the_draft(
    logged_in, sales, smtp_server
):
    url = _compose_url(sales)
    html = (
        "<div>Dear Anna,</div><ul><li>40 chairs</li><li>2 tables</li></ul>"
        '<div>See <a href="https://acme.test/offer">our offer</a>.</div>'
    )
    saved = logged_in.post(
        url, {"to": "anna@customer.test", "action": "save", "body_html": html}, **AUTOSAVE
    )
    form = {
        "draft": saved.json()["draft"],
        "to": "anna@customer.test",
        "subject": "Offer",
        "body_html": html,
        "token": _token(logged_in, url),
        # The HTML as written: tracking rewrites links (tested in postroom/tracking).
        "untracked": "on",
    }
    assert logged_in.post(url, form).status_code == 302
    assert not Draft.objects.exists()
    run_jobs()
    sent = _sent(smtp_server)
    text = sent.get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert "Dear Anna,\n- 40 chairs\n- 2 tables\nSee our offer (https://acme.test/offer)." in text
    assert '<a href="https://acme.test/offer" rel="noopener noreferrer">our offer</a>' in (
        sent.get_body(("html",)).get_content()
    )


def test_an_upload_is_stored_once_and_sent_as_an_attachment(logged_in, sales, smtp_server):
    url = _compose_url(sales)
    pdf = b"%PDF-1.4 offer" * 100
    upload = SimpleUploadedFile("offer.pdf", pdf, content_type="application/pdf")
    saved = logged_in.post(
        url, {"to": "anna@customer.test", "action": "save", "files": [upload]}, **AUTOSAVE
    )
    sha = hashlib.sha256(pdf).hexdigest()
    assert saved.json()["attachments"] == [
        {"sha256": sha, "filename": "offer.pdf", "content_type": "application/pdf", "size": 1400}
    ]
    assert AttachmentBlob.objects.filter(sha256=sha).count() == 1
    form = {
        "draft": saved.json()["draft"],
        "to": "anna@customer.test",
        "subject": "Offer",
        "body_html": "<div>Attached.</div>",
        "attachment": [sha],
        "token": _token(logged_in, url),
    }
    logged_in.post(url, form)
    run_jobs()
    [part] = list(_sent(smtp_server).iter_attachments())
    assert (part.get_filename(), part.get_content_type()) == ("offer.pdf", "application/pdf")
    assert part.get_content() == pdf


def test_an_unticked_attachment_is_dropped_and_a_foreign_one_never_added(logged_in, sales):
    url = _compose_url(sales)
    upload = SimpleUploadedFile("a.txt", b"mine", content_type="text/plain")
    saved = logged_in.post(url, {"action": "save", "files": [upload]}, **AUTOSAVE).json()
    elsewhere = hashlib.sha256(b"someone else's file").hexdigest()
    AttachmentBlob.objects.create(sha256=elsewhere, data=b"someone else's file")
    # The box of a.txt left unticked, and another blob's hash slipped into the form.
    logged_in.post(
        url, {"action": "save", "draft": saved["draft"], "attachment": [elsewhere]}, **AUTOSAVE
    )
    assert Draft.objects.get().attachments == []


def test_attachments_over_the_limit_are_refused_with_a_message(logged_in, sales, settings):
    settings.POSTROOM = {**settings.POSTROOM, "MAX_ATTACHMENTS_SIZE": 1000}
    upload = SimpleUploadedFile("big.bin", b"x" * 1001)
    response = logged_in.post(
        _compose_url(sales), {"action": "save", "files": [upload]}, **AUTOSAVE
    )
    assert response.status_code == 400
    assert "big.bin is 0.0 MB; attachments may add up to" in response.json()["error"]
    assert not AttachmentBlob.objects.exists()


def _with_attachments() -> bytes:
    msg = EmailMessage()
    msg["From"] = "Anna Client <anna@customer.test>"
    msg["To"] = "sales@acme.test"
    msg["Subject"] = "Our floor plan"
    msg["Message-ID"] = "<plan@customer.test>"
    msg.set_content("Plan and photo attached.")
    msg.add_attachment(b"PLAN", maintype="application", subtype="pdf", filename="plan.pdf")
    msg.add_attachment(b"PHOTO", maintype="image", subtype="jpeg", filename="room.jpg")
    return msg.as_bytes()


def test_forwarding_keeps_the_ticked_attachments_of_the_original(logged_in, sales, smtp_server):
    parent = receive(sales, raw=_with_attachments())
    conversation = ConversationMessage.objects.get(message=parent).conversation
    url = reverse("web:forward", args=[conversation.pk])
    page = logged_in.get(url)
    offered = page.context["attachments"]
    assert [a["filename"] for a in offered] == ["plan.pdf", "room.jpg"]
    assert page.context["kept"] == {a["sha256"] for a in offered}  # ticked by default
    form = {
        "to": "architect@partner.test",
        "subject": page.context["form"].initial["subject"],
        "body_html": page.context["html"],
        "attachment": [offered[0]["sha256"]],  # the photo unticked
        "token": page.context["form"].initial["token"],
    }
    assert logged_in.post(url, form).status_code == 302
    run_jobs()
    sent = _sent(smtp_server)
    assert [(p.get_filename(), p.get_content()) for p in sent.iter_attachments()] == [
        ("plan.pdf", b"PLAN")
    ]
    assert "Forwarded message" in sent.get_body(("plain",)).get_content()
    assert OutboxMessage.objects.get().kind == OutboxMessage.Kind.FORWARD
