"""For each default role (and an administrator, and a user without a role) and each CRM
entity: list pages, item pages, edit and create pages, search results, conversation
pages and attachment downloads show exactly what the role allows, and nothing else.

The world: the viewer and a colleague are in the Sales department, an outsider in
Support. Each entity has four items: the viewer's, the colleague's, the outsider's
and one without a responsible person, each with an email (and attachment) from the
Sales mailbox, which the viewer may read. The viewer's own item also has an email
that only the HR mailbox holds, which the viewer may not read: its subject shows on
the timeline, its body and attachment never.
"""

import itertools
from email.message import EmailMessage

import pytest
from django.urls import reverse

from postroom.accounts.roles import do_set_user_roles
from postroom.crm.actions import do_bind_activity, do_record_email_activity
from postroom.mail.ingest import FetchedMessage, store_copy
from postroom.mail.models import ConversationMessage, Message
from postroom.mail.threads import thread_message
from postroom.mailboxes.actions import do_grant_mailbox
from postroom.pipeline import ingest
from postroom.testing.factories import (
    CompanyFactory,
    ContactFactory,
    DealFactory,
    DepartmentFactory,
    LeadFactory,
    MailboxFactory,
    SmartItemFactory,
    SmartTypeFactory,
    UserFactory,
    default_role,
)

pytestmark = pytest.mark.django_db

OWNERS = ("own", "colleague", "outsider", "nobody")
NONE, OWN, DEPT, ALL = set(), {"own"}, {"own", "colleague"}, set(OWNERS)
# role -> (read, edit, create) reach, from migration 0005_default_roles.
ROLES = {
    "Manager": (DEPT, OWN, True),
    "Head of department": (DEPT, DEPT, True),
    "Administrator": (ALL, ALL, True),
    "superuser": (ALL, ALL, True),
    "no role": (NONE, NONE, False),
}
ENTITIES = ("lead", "contact", "company", "deal", "smart")
FACTORIES = {
    "lead": lambda title, **kw: LeadFactory(title=title, **kw),
    "contact": lambda title, **kw: ContactFactory(name=title, **kw),
    "company": lambda title, **kw: CompanyFactory(name=title, **kw),
    "deal": lambda title, **kw: DealFactory(title=title, **kw),
    "smart": lambda title, **kw: SmartItemFactory(
        title=title, smart_type=SmartTypeFactory(slug="support-request"), **kw
    ),
}
URLS = {  # list, item, edit, create
    "lead": ("web:leads", "web:lead", "web:lead_edit", "web:lead_create"),
    "contact": ("web:contacts", "web:contact", "web:contact_edit", "web:contact_create"),
    "company": ("web:companies", "web:company", "web:company_edit", "web:company_create"),
    "deal": ("web:deals", "web:deal", "web:deal_edit", "web:deal_create"),
    "smart": ("web:smart_items", "web:smart_item", "web:smart_item_edit", "web:smart_item_create"),
}
_uids = itertools.count(1)


def _title(entity: str, owner: str) -> str:
    # One word, so that it is found in a page whatever the markup around it.
    return f"Zq{entity}{owner}Item"


def _deliver(mailbox, *, subject: str, body: str, attachment: bytes) -> Message:
    msg = EmailMessage()
    msg["From"] = f"Client <client{next(_uids)}@customer.test>"
    msg["To"] = mailbox.address
    msg["Subject"] = subject
    msg.set_content(body)
    msg.add_attachment(attachment, maintype="application", subtype="pdf", filename="offer.pdf")
    copy = store_copy(
        mailbox.folders.get(name="INBOX"),
        1,
        FetchedMessage(uid=next(_uids), raw=msg.as_bytes()),
    )
    ingest.call([copy.message_id], mailbox.pk)
    message = Message.objects.get(pk=copy.message_id)
    thread_message(message, mailbox)
    return message


def _on_timeline(message: Message, item) -> None:
    do_bind_activity(do_record_email_activity(message, direction="in"), item)


@pytest.fixture
def world():
    viewer = UserFactory(username="viewer", password=None)
    colleague = UserFactory(username="colleague", password=None)
    outsider = UserFactory(username="outsider", password=None)
    DepartmentFactory(name="Sales team", members=[viewer, colleague])
    DepartmentFactory(name="Support team", members=[outsider])
    sales = MailboxFactory(name="Sales", address="sales@acme.test", crm_rule="none")
    hr = MailboxFactory(name="HR", address="hr@acme.test", crm_rule="none")
    do_grant_mailbox(sales, viewer)
    people = {"own": viewer, "colleague": colleague, "outsider": outsider, "nobody": None}
    items, mails = {}, {}
    for entity in ENTITIES:
        for owner in OWNERS:
            item = FACTORIES[entity](_title(entity, owner), responsible=people[owner])
            mail = _deliver(
                sales,
                subject=f"Sales mail {entity} {owner}",
                body=f"zqsalesbody{entity}{owner} greetings",
                attachment=f"sales attachment {entity} {owner}".encode(),
            )
            _on_timeline(mail, item)
            items[(entity, owner)], mails[(entity, owner)] = item, mail
        private = _deliver(
            hr,
            subject=f"HR mail {entity}",
            body=f"zqhrsecret{entity} salary",
            attachment=b"hr attachment",
        )
        _on_timeline(private, items[(entity, "own")])
        mails[(entity, "hr")] = private
    return {"viewer": viewer, "items": items, "mails": mails, "hr": hr, "sales": sales}


def _login(client, world, role: str):
    viewer = world["viewer"]
    if role == "superuser":
        viewer.is_superuser = True
        viewer.save(update_fields=["is_superuser"])
    elif role != "no role":
        do_set_user_roles(viewer, [default_role(role)])
    client.force_login(viewer)


def _url(name: str, entity: str, item=None) -> str:
    if item is not None:
        return reverse(name, args=[item.pk])
    return reverse(name, args=["support-request"]) if entity == "smart" else reverse(name)


def _all_titles() -> set[str]:
    return {_title(entity, owner) for entity in ENTITIES for owner in OWNERS}


def _leaked(page: str, allowed: set[str]) -> set[str]:
    """Item titles on the page that the viewer may not read."""
    return {title for title in _all_titles() - allowed if title in page}


@pytest.mark.parametrize("entity", ENTITIES)
@pytest.mark.parametrize("role", list(ROLES))
def test_crm_pages_and_their_mail_show_exactly_what_the_role_reaches(client, world, role, entity):
    _login(client, world, role)
    read, edit, create = ROLES[role]
    # Everything the viewer may read, of every entity (related items may show).
    readable = {_title(e, o) for e in ENTITIES for o in read}
    list_name, item_name, edit_name, create_name = URLS[entity]

    page = client.get(_url(list_name, entity)).content.decode()
    assert {o for o in OWNERS if _title(entity, o) in page} == read
    assert not _leaked(page, readable)

    for owner in OWNERS:
        item = world["items"][(entity, owner)]
        response = client.get(_url(item_name, entity, item))
        if owner not in read:
            assert response.status_code == 404, owner
            assert client.get(_url(edit_name, entity, item)).status_code == 404
            continue
        assert response.status_code == 200, owner
        page = response.content.decode()
        assert _title(entity, owner) in page
        assert not _leaked(page, readable), owner
        # Its email from the Sales mailbox shows in full: the viewer reads that mailbox.
        assert f"zqsalesbody{entity}{owner}" in page
        edit_status = client.get(_url(edit_name, entity, item)).status_code
        assert edit_status == (200 if owner in edit else 403), owner

    create_status = client.get(_url(create_name, entity)).status_code
    assert create_status == (200 if create else 403)

    # The HR email on the viewer's own item: its subject shows with the item, its body
    # and attachment only to who reads the HR mailbox (a superuser reads every shared one).
    private = world["mails"][(entity, "hr")]
    if "own" in read:
        page = client.get(_url(item_name, entity, world["items"][(entity, "own")]))
        assert f"HR mail {entity}" in page.content.decode()
        assert (f"zqhrsecret{entity}" in page.content.decode()) == (role == "superuser")
    attachment = private.attachments.get()
    download = client.get(reverse("web:message_attachment", args=[private.pk, attachment.pk]))
    assert download.status_code == (200 if role == "superuser" else 404)
    body = client.get(reverse("web:message_body", args=[private.pk]))
    assert body.status_code == (200 if role == "superuser" else 404)


@pytest.mark.parametrize("role", list(ROLES))
def test_search_and_mail_pages_show_mail_by_mailbox_and_no_crm_item(client, world, role):
    _login(client, world, role)
    read, _, _ = ROLES[role]
    readable = {_title(e, o) for e in ENTITIES for o in read}
    for entity in ENTITIES:
        for owner in OWNERS:
            mail = world["mails"][(entity, owner)]
            # Mail follows mailbox grants, whoever owns the items it is bound to.
            page = client.get(reverse("web:search"), {"q": f"zqsalesbody{entity}{owner}"})
            assert page.context["results"].total == 1, (entity, owner)
            assert not _leaked(page.content.decode(), readable)
            attachment = mail.attachments.get()
            url = reverse("web:message_attachment", args=[mail.pk, attachment.pk])
            assert client.get(url).status_code == 200
        hr_page = client.get(reverse("web:search"), {"q": f"zqhrsecret{entity}"})
        assert hr_page.context["results"].total == (1 if role == "superuser" else 0)
    # Each email's conversation page: the mail in full (its mailbox is readable), and a
    # link to the item it is on only when the role reaches that item.
    for (entity, owner), mail in world["mails"].items():
        if owner == "hr":
            continue
        link = ConversationMessage.objects.get(message=mail)
        page = client.get(reverse("web:conversation", args=[link.conversation_id]))
        text = page.content.decode()
        assert f"zqsalesbody{entity}{owner}" in text
        assert (_title(entity, owner) in text) == (owner in read), (entity, owner)
        assert not _leaked(text, readable)


@pytest.mark.parametrize("role", list(ROLES))
def test_search_by_responsible_offers_only_people_whose_items_the_user_reads(client, world, role):
    _login(client, world, role)
    read, _, _ = ROLES[role]
    people = {o: world["items"][("lead", o)].responsible for o in ("own", "colleague", "outsider")}
    for owner, person in people.items():
        response = client.get(reverse("web:search"), {"responsible": person.pk})
        results = response.context["results"]
        if owner in read:
            assert results is not None, owner
            assert results.total >= 1  # the sales mail on that person's lead
        else:
            assert results is None, owner  # not a valid choice: nothing is searched
            assert "responsible" in response.context["form"].errors


@pytest.mark.parametrize("entity", ["deal", "smart"])
@pytest.mark.parametrize("role", list(ROLES))
def test_moving_a_card_and_commenting_follow_the_edit_right(client, world, role, entity):
    """The kanban's stage move and the comment form: 404 unreadable, 403 with the
    reason when readable but not editable, done when editable."""
    _login(client, world, role)
    read, edit, _ = ROLES[role]
    stage_url, kind = (
        ("web:deal_stage", "deal")
        if entity == "deal"
        else (
            "web:smart_item_stage",
            "smart_item",
        )
    )
    for owner in OWNERS:
        item = world["items"][(entity, owner)]
        stages = item.pipeline.stages if entity == "deal" else item.smart_type.stages
        target = stages.exclude(pk=item.stage_id).order_by("sort").first()
        moved = client.post(reverse(stage_url, args=[item.pk]), {"stage": target.pk})
        commented = client.post(
            reverse("web:crm_comment", args=[kind, item.pk]), {"text": "zqcomment"}
        )
        item.refresh_from_db()
        if owner not in read:
            assert (moved.status_code, commented.status_code) == (404, 404), owner
        elif owner not in edit:
            assert (moved.status_code, commented.status_code) == (403, 403), owner
            assert role in moved.content.decode()  # the reason names the role
        else:
            assert moved.status_code in (200, 302) and commented.status_code in (200, 302)
        assert (item.stage_id == target.pk) == (owner in edit), owner
