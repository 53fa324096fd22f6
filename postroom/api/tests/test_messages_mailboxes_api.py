"""Messages (read, raw .eml, attachments) and mailboxes (read, settings, grants, folders)
through the API, with the rights of the message and mailbox pages."""

from __future__ import annotations

from email.message import EmailMessage

import pytest

from postroom.mailboxes.models import MailboxGrant
from postroom.testing.factories import DepartmentFactory
from postroom.testing.mail import ingested, make_email

from .conftest import token_client

pytestmark = pytest.mark.django_db


def _with_file() -> bytes:
    msg = EmailMessage()
    msg["From"] = "anna@customer.test"
    msg["To"] = "sales@acme.test"
    msg["Subject"] = "Offer attached"
    msg["Message-ID"] = "<offer@customer.test>"
    msg.set_content("See the offer.")
    msg.add_alternative("<p>See <b>the</b> offer.<script>alert(1)</script></p>", subtype="html")
    msg.add_attachment(
        b"%PDF-1.4 offer", maintype="application", subtype="pdf", filename="offer.pdf"
    )
    return msg.as_bytes()


def test_a_reader_gets_the_message_its_raw_bytes_and_its_attachment(sales, reader):
    raw = _with_file()
    message = ingested(sales, raw)
    api = token_client(reader, "read")
    body = api.get(f"/api/v1/messages/{message.pk}").json()
    assert body["subject"] == "Offer attached"
    assert "<script" not in body["html_body"] and "<b>the</b>" in body["html_body"]
    (attachment,) = body["attachments"]
    assert attachment["filename"] == "offer.pdf"
    eml = api.get(f"/api/v1/messages/{message.pk}/raw")
    assert eml["Content-Type"] == "message/rfc822"
    assert eml.content == raw
    file = api.get(f"/api/v1/messages/{message.pk}/attachments/{attachment['id']}")
    assert file.content == b"%PDF-1.4 offer"
    assert file["Content-Type"] == "application/pdf"


def test_a_message_of_another_mailbox_is_a_404_everywhere(sales, stranger):
    message = ingested(sales, make_email())
    api = token_client(stranger)
    for path in ("", "/raw", "/attachments"):
        response = api.get(f"/api/v1/messages/{message.pk}{path}")
        assert response.status_code == 404, path
        assert response.json()["code"] == "not_found"


def test_mailboxes_list_only_readable_ones_with_the_callers_right(sales, reader, manager):
    assert token_client(reader).get("/api/v1/mailboxes/").json() == [
        {
            "id": sales.pk,
            "name": "Sales",
            "address": "sales@acme.test",
            "kind": "shared",
            "status": sales.status,
            "status_message": "",
            "last_synced_at": None,
            "your_right": "read",
        }
    ]
    assert token_client(manager).get(f"/api/v1/mailboxes/{sales.pk}").json()["your_right"] == (
        "manage"
    )


def test_settings_need_the_manage_right_and_go_through_the_action(sales, replier, manager):
    refused = token_client(replier).patch(f"/api/v1/mailboxes/{sales.pk}/settings", {"name": "X"})
    assert refused.status_code == 403
    assert "manage right" in refused.json()["message"]
    api = token_client(manager)
    changed = api.patch(f"/api/v1/mailboxes/{sales.pk}/settings", {"name": "Sales EU"})
    assert changed.status_code == 200
    assert changed.json()["name"] == "Sales EU"
    sales.refresh_from_db()
    assert sales.name == "Sales EU"
    bad = api.patch(f"/api/v1/mailboxes/{sales.pk}/settings", {"initial_days": 0})
    assert bad.status_code == 422
    assert "days back" in bad.json()["message"]


def test_a_manager_grants_and_revokes_access(sales, manager, stranger):
    api = token_client(manager)
    made = api.put(
        f"/api/v1/mailboxes/{sales.pk}/grants", {"user_id": stranger.pk, "level": "reply"}
    )
    assert made.status_code == 200, made.content
    assert sales.grants.get(user=stranger).level == MailboxGrant.Level.REPLY
    team = DepartmentFactory(name="Support")
    api.put(f"/api/v1/mailboxes/{sales.pk}/grants", {"group_id": team.group_id, "level": "read"})
    assert sales.grants.filter(group=team.group).exists()
    gone = api.delete(f"/api/v1/mailboxes/{sales.pk}/grants/{made.json()['id']}")
    assert gone.status_code == 204
    assert not sales.grants.filter(user=stranger).exists()


def test_a_manager_may_not_take_away_their_own_managing(sales, manager):
    api = token_client(manager)
    own = sales.grants.get(user=manager)
    response = api.delete(f"/api/v1/mailboxes/{sales.pk}/grants/{own.pk}")
    assert response.status_code == 409
    assert "your own right" in response.json()["message"]


def test_folders_show_sync_state_to_managers(sales, reader, manager):
    assert token_client(reader).get(f"/api/v1/mailboxes/{sales.pk}/folders").status_code == 403
    (inbox,) = token_client(manager).get(f"/api/v1/mailboxes/{sales.pk}/folders").json()
    assert inbox["name"] == "INBOX" and inbox["is_synced"] is True


def test_anyone_who_reads_a_mailbox_may_ask_for_a_sync(sales, reader):
    response = token_client(reader).post(f"/api/v1/mailboxes/{sales.pk}/sync")
    assert response.status_code == 202
