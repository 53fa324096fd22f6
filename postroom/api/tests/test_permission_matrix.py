"""The permission matrix of the web views, over the API: every default CRM role against
items of the caller, a colleague, an outsider and nobody (postroom/crm/tests/
test_permissions_matrix.py), each mailbox right against the conversation and mailbox
endpoints, and a token of each scope."""

from __future__ import annotations

from email.message import EmailMessage

import pytest

from postroom.accounts.roles import Scope, do_set_user_roles
from postroom.crm.actions import do_bind_activity, do_record_email_activity
from postroom.mailboxes.actions import do_grant_mailbox
from postroom.mailboxes.models import MailboxGrant
from postroom.testing.factories import (
    CompanyFactory,
    ContactFactory,
    ConversationFactory,
    DealFactory,
    DepartmentFactory,
    LeadFactory,
    MailboxFactory,
    SmartItemFactory,
    SmartTypeFactory,
    UserFactory,
    default_role,
)
from postroom.testing.mail import ingested

from .conftest import token_client

pytestmark = pytest.mark.django_db

OWNERS = ("own", "colleague", "outsider", "nobody")
REACH = {
    Scope.NONE: set(),
    Scope.OWN: {"own"},
    Scope.DEPARTMENT: {"own", "colleague"},
    Scope.ALL: set(OWNERS),
}
ROLES = {
    "Manager": {
        "read": Scope.DEPARTMENT,
        "create": Scope.ALL,
        "edit": Scope.OWN,
        "delete": Scope.OWN,
    },
    "Head of department": {
        "read": Scope.DEPARTMENT,
        "create": Scope.ALL,
        "edit": Scope.DEPARTMENT,
        "delete": Scope.DEPARTMENT,
    },
    "Administrator": dict.fromkeys(("read", "create", "edit", "delete"), Scope.ALL),
    "superuser": dict.fromkeys(("read", "create", "edit", "delete"), Scope.ALL),
    None: dict.fromkeys(("read", "create", "edit", "delete"), Scope.NONE),
}
SMART = "matrix-type"
# entity: (factory, item path, list path, create path, a field to change)
ENTITIES = {
    "lead": (LeadFactory, "leads/{}", "leads/", "leads/", "title"),
    "contact": (ContactFactory, "contacts/{}", "contacts/", "contacts/", "name"),
    "company": (CompanyFactory, "companies/{}", "companies/", "companies/", "name"),
    "deal": (DealFactory, "deals/{}", "deals/", "deals/", "title"),
    "smart": (
        SmartItemFactory,
        "smart-items/{}",
        f"smart-types/{SMART}/items",
        f"smart-types/{SMART}/items",
        "title",
    ),
}


@pytest.fixture
def people():
    user, colleague, outsider = UserFactory(), UserFactory(), UserFactory()
    DepartmentFactory(name="Sales", members=[user, colleague])
    DepartmentFactory(name="Support", members=[outsider])
    return {"own": user, "colleague": colleague, "outsider": outsider, "nobody": None}


def _as(role_name, user):
    if role_name == "superuser":
        user.is_superuser = True
        user.save(update_fields=["is_superuser"])
    elif role_name is not None:
        do_set_user_roles(user, [default_role(role_name)])
    return user


def _crm(path: str) -> str:
    return f"/api/v1/crm/{path}"


@pytest.mark.parametrize("entity", list(ENTITIES))
@pytest.mark.parametrize("role_name", list(ROLES))
def test_each_role_reaches_exactly_its_scope_through_the_api(role_name, entity, people):
    factory, item_path, list_path, create_path, field = ENTITIES[entity]
    extra = {"smart_type": SmartTypeFactory(slug=SMART)} if entity == "smart" else {}
    items = {o: factory(responsible=people[o], **extra) for o in OWNERS}
    user = _as(role_name, people["own"])
    scopes = ROLES[role_name]
    readable = REACH[scopes["read"]]
    api = token_client(user)

    listed = {row["id"] for row in api.get(_crm(list_path)).json()["items"]}
    assert listed == {items[o].pk for o in readable}
    for owner, item in items.items():
        url = _crm(item_path.format(item.pk))
        assert api.get(url).status_code == (200 if owner in readable else 404), owner
        changed = api.patch(url, {field: "Changed"})
        if owner not in readable:
            assert changed.status_code == 404, owner
        elif owner in REACH[scopes["edit"]]:
            assert changed.status_code == 200, (owner, changed.content)
        else:
            assert changed.status_code == 403, owner
            assert "may not edit" in changed.json()["message"]
    for owner, item in items.items():
        gone = api.delete(_crm(item_path.format(item.pk)))
        expected = (
            404 if owner not in readable else 204 if owner in REACH[scopes["delete"]] else 403
        )
        assert gone.status_code == expected, owner
    made = api.post(_crm(create_path), {field: "New one"})
    assert made.status_code == (201 if scopes["create"] != Scope.NONE else 403), made.content


@pytest.mark.parametrize("entity", list(ENTITIES))
def test_a_read_token_reads_what_its_user_reads_and_changes_nothing(entity, people):
    factory, item_path, list_path, create_path, field = ENTITIES[entity]
    extra = {"smart_type": SmartTypeFactory(slug=SMART)} if entity == "smart" else {}
    item = factory(responsible=people["own"], **extra)
    do_set_user_roles(people["own"], [default_role("Administrator")])
    api = token_client(people["own"], "read")
    url = _crm(item_path.format(item.pk))
    assert api.get(url).status_code == 200
    assert api.get(_crm(list_path)).status_code == 200
    for response in (
        api.patch(url, {field: "Changed"}),
        api.delete(url),
        api.post(_crm(create_path), {field: "New"}),
    ):
        assert response.status_code == 403
        assert response.json()["code"] == "token_read_only"
    assert type(item).objects.filter(pk=item.pk).exists()


def _mail_with_file(mailbox, subject: str):
    msg = EmailMessage()
    msg["From"] = "client@customer.test"
    msg["To"] = mailbox.address
    msg["Subject"] = subject
    msg.set_content("zqsecret body")
    msg.add_attachment(b"private", maintype="application", subtype="pdf", filename="pay.pdf")
    return ingested(mailbox, msg.as_bytes())


@pytest.mark.parametrize("role_name", ["Manager", "Administrator", "superuser"])
def test_mail_of_a_mailbox_the_caller_may_not_read_shows_only_its_subject(role_name, people):
    """As on the item's page: an email of the HR mailbox on the caller's own lead shows
    its subject on the timeline; its body, raw bytes and attachment only to who reads
    HR (a superuser reads every shared mailbox)."""
    hr = MailboxFactory(name="HR", address="hr@acme.test", crm_rule="none")
    lead = LeadFactory(responsible=people["own"])
    message = _mail_with_file(hr, "HR mail")
    do_bind_activity(do_record_email_activity(message, direction="in"), lead)
    user = _as(role_name, people["own"])
    api = token_client(user, "read")
    (entry,) = [e for e in api.get(_crm(f"leads/{lead.pk}/timeline")).json() if e["subject"]]
    assert entry["subject"] == "HR mail"
    sees = role_name == "superuser"
    assert entry["message_id"] == (message.pk if sees else None)
    attachment = message.attachments.get()
    for url in (
        f"/api/v1/messages/{message.pk}",
        f"/api/v1/messages/{message.pk}/raw",
        f"/api/v1/messages/{message.pk}/attachments",
        f"/api/v1/messages/{message.pk}/attachments/{attachment.pk}",
    ):
        assert api.get(url).status_code == (200 if sees else 404), url


# ------------------------------------------------------------------ mailbox rights

LEVELS = {
    "none": None,
    "read": MailboxGrant.Level.READ,
    "reply": MailboxGrant.Level.REPLY,
    "manage": MailboxGrant.Level.MANAGE,
}


@pytest.mark.parametrize("scope", ["read", "read_write"])
@pytest.mark.parametrize("level", list(LEVELS))
def test_each_mailbox_right_over_the_api(level, scope):
    mailbox = MailboxFactory()
    conversation = ConversationFactory(mailbox=mailbox)
    user = UserFactory()
    if LEVELS[level] is not None:
        do_grant_mailbox(mailbox, user, LEVELS[level])
    api = token_client(user, scope)
    reads = level != "none"
    writes = scope == "read_write"

    def expect(response, allowed_level: str, ok: int) -> None:
        # A read token's write is refused before anything is looked up: it learns
        # nothing about the conversation, not even whether it exists.
        if not writes and response.request["REQUEST_METHOD"] != "GET":
            assert response.status_code == 403
            assert response.json()["code"] == "token_read_only"
        elif not reads:
            assert response.status_code == 404, response.content
        elif list(LEVELS).index(level) >= list(LEVELS).index(allowed_level):
            assert response.status_code == ok, response.content
        else:
            assert response.status_code == 403, response.content
            assert f"{allowed_level} right" in response.json()["message"]

    c = f"/api/v1/conversations/{conversation.pk}"
    m = f"/api/v1/mailboxes/{mailbox.pk}"
    expect(api.get(c), "read", 200)
    expect(api.get(m), "read", 200)
    expect(api.post(f"{c}/comments", {"body": "note"}), "read", 201)
    expect(api.post(f"{c}/status", {"status": "pending"}), "reply", 200)
    expect(api.post(f"{c}/assign", {"responsible_id": None}), "reply", 200)
    expect(api.get(f"{m}/settings"), "manage", 200)
    expect(api.patch(f"{m}/settings", {"name": "Renamed"}), "manage", 200)
    expect(api.get(f"{m}/grants"), "manage", 200)
    expect(api.get(f"{m}/folders"), "manage", 200)
    listed = [c["id"] for c in api.get("/api/v1/conversations/").json()["items"]]
    assert listed == ([conversation.pk] if reads else [])
