"""The message display views: the sandboxed body, inline images, the original, image switches."""

import re
from email.message import EmailMessage
from urllib.parse import urljoin

import pytest
from django.test import Client
from django.urls import reverse

from postroom.mail.ingest import FetchedMessage, parse_stored, store_copy
from postroom.mail.threads import thread_message
from postroom.mailboxes.actions import do_grant_mailbox
from postroom.testing.factories import MailboxFactory, UserFactory

pytestmark = pytest.mark.django_db

PNG = b"\x89PNG\r\n\x1a\n fake image bytes"
# Positions of the parts of _html_email among the message's attachments.
LOGO, VECTOR = 1, 2
HTML = (
    '<p onclick="alert(1)">Hello <b>there</b></p><script>alert(2)</script>'
    '<img src="http://tracker.invalid/p.png"><img src="cid:logo@customer.test" alt="logo">'
    '<a href="https://customer.test/offer">offer</a>'
)


def _html_email(html: str = HTML, subject: str = 'Offer: 40 "chairs" / 4 tables') -> bytes:
    msg = EmailMessage()
    msg["From"] = "Anna Client <anna@customer.test>"
    msg["To"] = "sales@acme.test"
    msg["Subject"] = subject
    msg["Message-ID"] = "<offer-1@customer.test>"
    msg.set_content("Hello there (plain)")
    msg.add_alternative(html, subtype="html")
    msg.get_payload()[1].add_related(
        PNG, maintype="image", subtype="png", cid="<logo@customer.test>"
    )
    msg.get_payload()[1].add_related(
        b"<svg onload=alert(1)/>", maintype="image", subtype="svg+xml", cid="<vector@customer.test>"
    )
    return msg.as_bytes()


@pytest.fixture
def mailbox():
    return MailboxFactory(name="Sales")


@pytest.fixture
def raw() -> bytes:
    return _html_email()


@pytest.fixture
def message(mailbox, raw):
    copy = store_copy(mailbox.folders.get(), 1, FetchedMessage(uid=1, raw=raw))
    message = parse_stored(copy.message)
    thread_message(message, mailbox)
    return message


@pytest.fixture
def reader(client, mailbox):
    user = UserFactory()
    do_grant_mailbox(mailbox, user)
    client.force_login(user)
    return user


@pytest.fixture
def stranger(client):
    user = UserFactory()
    client.force_login(user)
    return user


def _url(name: str, message, *args) -> str:
    return reverse(f"web:{name}", args=[message.pk, *args])


class TestBody:
    def test_it_serves_the_sanitised_body_under_a_strict_policy(self, client, reader, message):
        response = client.get(_url("message_body", message))
        assert response.status_code == 200
        csp = response["Content-Security-Policy"]
        assert "default-src 'none'" in csp
        assert "img-src 'self';" in csp
        assert "sandbox allow-popups allow-popups-to-escape-sandbox" in csp
        assert "allow-scripts" not in csp and "allow-same-origin" not in csp
        assert "form-action 'none'" in csp and "base-uri 'none'" in csp
        assert response["X-Frame-Options"] == "SAMEORIGIN"
        assert response["Referrer-Policy"] == "no-referrer"
        assert response["X-Content-Type-Options"] == "nosniff"

        body = response.content.decode()
        assert "<b>there</b>" in body
        assert "<script" not in body and "onclick" not in body and "tracker" not in body
        assert f'src="{_url("message_inline", message, LOGO)}?u=' in body
        assert 'target="_blank" rel="noopener noreferrer"' in body

    def test_it_shows_remote_images_when_asked(self, client, reader, message):
        response = client.get(_url("message_body", message) + "?images=1")
        assert 'src="http://tracker.invalid/p.png"' in response.content.decode()
        assert "img-src 'self' https: http:;" in response["Content-Security-Policy"]

    def test_it_shows_plain_text_escaped_when_there_is_no_html(self, client, reader, mailbox):
        msg = EmailMessage()
        msg["From"], msg["Subject"] = "anna@customer.test", "Plain"
        msg.set_content("<b>not bold</b> https://customer.test/")
        copy = store_copy(mailbox.folders.get(), 2, FetchedMessage(uid=2, raw=msg.as_bytes()))
        message = parse_stored(copy.message)
        body = client.get(_url("message_body", message)).content.decode()
        assert "&lt;b&gt;not bold&lt;/b&gt;" in body
        assert '<a href="https://customer.test/" target="_blank"' in body

    def test_it_needs_a_login(self, client, message):
        response = client.get(_url("message_body", message))
        assert response.status_code == 302


class TestConversationPage:
    def test_it_frames_the_body_in_a_sandbox(self, client, reader, message, mailbox):
        conversation = thread_message(message, mailbox)
        page = client.get(reverse("web:conversation", args=[conversation.pk])).content.decode()
        assert (
            '<iframe class="message-frame" title="Message body" '
            'sandbox="allow-popups allow-popups-to-escape-sandbox"' in page
        )
        assert f'src="{_url("message_body", message)}"' in page
        assert "1 remote image blocked." in page
        assert "Show images" in page
        assert "alert(" not in page  # the HTML itself never reaches the page

    def test_show_images_switches_the_frame_for_that_message(
        self, client, reader, message, mailbox
    ):
        conversation = thread_message(message, mailbox)
        url = reverse("web:conversation", args=[conversation.pk])
        page = client.get(f"{url}?images={message.pk}").content.decode()
        assert f'src="{_url("message_body", message)}?images=1"' in page
        assert "Remote images are shown for this message." in page

    def test_it_does_not_show_email_subjects_as_flash_messages(
        self, client, reader, message, mailbox
    ):
        conversation = thread_message(message, mailbox)
        page = client.get(reverse("web:conversation", args=[conversation.pk])).content.decode()
        assert 'class="flash"' not in page


class TestSenderAllowList:
    def test_it_always_shows_images_from_an_allowed_sender(self, client, reader, message):
        response = client.post(_url("allow_sender_images", message), {"next": "/elsewhere/"})
        assert response.status_code == 302
        reader.refresh_from_db()
        assert reader.images_allowed_from == ["anna@customer.test"]

        body = client.get(_url("message_body", message))
        assert 'src="http://tracker.invalid/p.png"' in body.content.decode()

        client.post(_url("disallow_sender_images", message))
        reader.refresh_from_db()
        assert reader.images_allowed_from == []
        assert "tracker" not in client.get(_url("message_body", message)).content.decode()

    def test_it_refuses_a_forged_post_without_the_csrf_token(self, reader, message):
        forged = Client(enforce_csrf_checks=True)
        forged.force_login(reader)
        response = forged.post(_url("allow_sender_images", message))
        assert response.status_code == 403
        reader.refresh_from_db()
        assert reader.images_allowed_from == []

    def test_it_refuses_get(self, client, reader, message):
        assert client.get(_url("allow_sender_images", message)).status_code == 405

    def test_it_does_not_redirect_off_site(self, client, reader, message):
        response = client.post(_url("allow_sender_images", message), {"next": "https://evil/"})
        assert response.status_code == 302
        assert "evil" not in response.url


def _inline_image_url(client, message) -> str:
    body = client.get(_url("message_body", message)).content.decode()
    return re.search(r'<img src="([^"]+)" alt="logo">', body)[1].replace("&amp;", "&")


class TestInlineImages:
    def test_it_serves_a_cid_part_with_its_type(self, client, reader, message):
        response = client.get(_url("message_inline", message, LOGO))
        assert response.status_code == 200
        assert response["Content-Type"] == "image/png"
        assert response.content == PNG
        assert response["Content-Security-Policy"].startswith("default-src 'none'")
        assert response["X-Content-Type-Options"] == "nosniff"

    def test_the_body_links_it_with_a_token_that_works_without_the_session(
        self, client, reader, message
    ):
        # The sandboxed body is cross-site to the browser: its requests carry no cookie.
        url = _inline_image_url(client, message)
        response = Client().get(url)
        assert (response.status_code, response.content) == (200, PNG)

    def test_a_tampered_or_foreign_token_is_refused(self, client, reader, message):
        url = _inline_image_url(client, message)
        assert Client().get(url[:-2] + "xx").status_code == 404
        other_part = url.replace(f"/inline/{LOGO}/", f"/inline/{VECTOR}/")
        assert Client().get(other_part).status_code == 404
        other_user = re.sub(r"u=\d+", f"u={UserFactory().pk}", url)
        assert Client().get(other_user).status_code == 404

    def test_a_token_stops_working_when_the_grant_is_revoked(self, client, reader, message):
        url = _inline_image_url(client, message)
        reader.mailboxgrant_set.all().delete()
        assert Client().get(url).status_code == 404

    def test_anonymous_without_a_token_gets_404(self, message):
        assert Client().get(_url("message_inline", message, LOGO)).status_code == 404

    def test_it_serves_no_svg_and_no_missing_part(self, client, reader, message):
        assert client.get(_url("message_inline", message, VECTOR)).status_code == 404
        assert client.get(_url("message_inline", message, 99)).status_code == 404


def _email_citing(html: str, *parts: tuple[str, bytes, str], message_id: str) -> bytes:
    """An HTML email with inline parts (content id, bytes, type) that cites what `html` says."""
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "anna@customer.test", "sales@acme.test", "Logo"
    msg["Message-ID"] = message_id
    msg.set_content("see the logo")
    msg.add_alternative(html, subtype="html")
    for cid, data, content_type in parts:
        maintype, subtype = content_type.split("/")
        msg.get_payload()[1].add_related(data, maintype=maintype, subtype=subtype, cid=f"<{cid}>")
    return msg.as_bytes()


def _stored(mailbox, uid: int, raw: bytes):
    copy = store_copy(mailbox.folders.get(), 1, FetchedMessage(uid=uid, raw=raw))
    return parse_stored(copy.message)


def _image_sources(client, message) -> list[str]:
    body = client.get(_url("message_body", message)).content.decode()
    return [src.replace("&amp;", "&") for src in re.findall(r'<img[^>]*?src="([^"]*)"', body)]


class TestHostileCids:
    """cid: resolves only to an image part of the message itself; anything else is
    dropped from the body, never turned into a URL of Postroom's."""

    @pytest.mark.parametrize(
        "reference",
        [
            "cid:../../admin",
            "cid:..%2F..%2Fadmin%2F",
            "cid:%2e%2e",
            "cid:%2E%2E/%2E%2E/admin",
            "cid:nope@customer.test",
            "cid:vector@customer.test",  # a part of the message, but no raster image
        ],
    )
    def test_a_reference_to_no_image_part_of_the_message_is_dropped(
        self, client, reader, mailbox, reference
    ):
        raw = _email_citing(
            f'<p><img src="{reference}" alt="x"></p>',
            ("vector@customer.test", b"<svg/>", "image/svg+xml"),
            message_id="<hostile@customer.test>",
        )
        assert _image_sources(client, _stored(mailbox, 7, raw)) == []

    def test_a_part_of_another_message_is_not_resolved(self, client, reader, mailbox, message):
        # `message` has the part logo@customer.test; this one only cites it.
        raw = _email_citing(
            '<img src="cid:logo@customer.test">', message_id="<borrower@customer.test>"
        )
        assert _image_sources(client, _stored(mailbox, 8, raw)) == []

    def test_a_hostile_content_id_of_its_own_part_cannot_leave_the_message(
        self, client, reader, mailbox
    ):
        raw = _email_citing(
            '<img src="cid:../../../admin/">',
            ("../../../admin/", PNG, "image/png"),
            message_id="<own-hostile@customer.test>",
        )
        message = _stored(mailbox, 9, raw)
        [src] = _image_sources(client, message)
        path = src.partition("?")[0]
        assert path.startswith(f"/messages/{message.pk}/") and ".." not in path
        assert path == urljoin(path, ".")  # no dot segment a browser would resolve
        response = Client().get(src)
        assert (response.status_code, response.content) == (200, PNG)


class TestOriginal:
    def test_the_download_is_the_exact_raw_bytes(self, client, reader, message, raw):
        response = client.get(_url("message_eml", message))
        assert response.status_code == 200
        assert response.content == raw
        assert response["Content-Type"] == "message/rfc822"
        assert response["Content-Disposition"] == (
            'attachment; filename="Offer 40 chairs 4 tables.eml"'
        )

    def test_the_original_page_shows_every_header_escaped(self, client, reader, message):
        page = client.get(_url("message_original", message)).content.decode()
        assert "Message-ID: &lt;offer-1@customer.test&gt;" in page
        assert "&lt;script&gt;alert(2)&lt;/script&gt;" in page
        assert "<script>alert(2)" not in page

    @pytest.mark.parametrize("name", ["message_original", "message_eml"])
    def test_a_lost_pack_file_gives_a_page_that_says_so(
        self, client, reader, mailbox, raw, settings, tmp_path, name
    ):
        settings.DATA_DIR = tmp_path
        settings.POSTROOM = {**settings.POSTROOM, "RAW_STORE": "files"}
        copy = store_copy(mailbox.folders.get(), 1, FetchedMessage(uid=1, raw=raw))
        for pack in (tmp_path / "raw").rglob("*.pack"):
            pack.unlink()

        response = client.get(_url(name, copy.message))
        assert response.status_code == 500
        assert "cannot be read" in response.content.decode()


@pytest.mark.parametrize(
    ("name", "extra"),
    [
        ("message_body", ()),
        ("message_inline", (LOGO,)),
        ("message_original", ()),
        ("message_eml", ()),
    ],
)
def test_a_user_without_a_grant_gets_404(client, stranger, message, name, extra):
    assert client.get(_url(name, message, *extra)).status_code == 404


@pytest.mark.parametrize("name", ["allow_sender_images", "disallow_sender_images"])
def test_a_user_without_a_grant_cannot_change_the_allow_list(client, stranger, message, name):
    assert client.post(_url(name, message)).status_code == 404
    stranger.refresh_from_db()
    assert stranger.images_allowed_from == []


def test_a_grant_on_another_mailbox_holding_no_copy_is_not_enough(client, message):
    user = UserFactory()
    do_grant_mailbox(MailboxFactory(name="HR"), user)
    client.force_login(user)
    assert client.get(_url("message_body", message)).status_code == 404
