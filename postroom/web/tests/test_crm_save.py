"""Saving an email to the CRM by hand and moving it between deals, from the conversation
page (postroom/web/crm_save_views.py), and the item search behind the pickers."""

import html

import pytest
from django.test import Client
from django.urls import reverse

from postroom.crm.actions import do_bind_activity, do_record_email_activity, do_save_to_crm
from postroom.crm.models import Deal, Lead, TimelineEntry
from postroom.crm.timeline import timeline_of
from postroom.mail.ingest import FetchedMessage, parse_stored, store_copy
from postroom.mail.threads import thread_message
from postroom.mailboxes.actions import do_grant_mailbox
from postroom.mailboxes.models import Folder, MailboxGrant
from postroom.testing.factories import (
    ContactFactory,
    DealFactory,
    LeadFactory,
    MailboxFactory,
    RoleFactory,
    SmartItemFactory,
    SmartTypeFactory,
    UserFactory,
    default_role,
)
from postroom.testing.mail import make_email

pytestmark = pytest.mark.django_db


def manager(**fields):
    """A user with the default "Manager" role: edits the items they are responsible for."""
    user = UserFactory(**fields)
    user.roles.add(default_role("Manager"))
    return user


@pytest.fixture
def alice(client):
    user = manager(username="alice", email="alice@acme.test")
    client.force_login(user)
    return user


def deal_reader(username: str):
    """A user whose role reads every deal but edits only their own."""
    user = UserFactory(username=username)
    user.roles.add(
        RoleFactory(name="Reads all deals", rights={("deal", "read"): 3, ("deal", "edit"): 1})
    )
    return user


@pytest.fixture
def mailbox(alice):
    """A mailbox with its CRM integration off, that Alice may read."""
    mailbox = MailboxFactory(name="Sales", crm_rule="none")
    do_grant_mailbox(mailbox, alice, MailboxGrant.Level.READ)
    return mailbox


@pytest.fixture
def arrive():
    """Store, parse and thread an email as if synced into the mailbox's INBOX."""
    uids = iter(range(1, 10_000))

    def arrive(mailbox, raw: bytes):
        folder, _ = Folder.objects.get_or_create(
            mailbox=mailbox, name="INBOX", defaults={"role": Folder.Role.INBOX}
        )
        copy = store_copy(folder, 1, FetchedMessage(uid=next(uids), raw=raw))
        message = parse_stored(copy.message)
        return message, thread_message(message, mailbox)

    return arrive


def emails_on(item) -> list[str]:
    return [e.activity.message.subject for e in timeline_of(item) if e.activity_id]


def page_of(response) -> str:
    """The page's text with entities decoded, so that reasons read as written."""
    return html.unescape(response.content.decode())


def save(client, message, conversation, **data):
    return client.post(
        reverse("web:crm_save", args=[message.pk]),
        {"conversation": conversation.pk, **data},
        follow=True,
    )


# ------------------------------------------------------------------ the page


def test_the_conversation_page_offers_save_and_move_per_email(client, alice, mailbox, arrive):
    SmartTypeFactory(name="Warranty Claim", slug="warranty-claim")
    message, conversation = arrive(mailbox, make_email(subject="Chairs"))
    deal = DealFactory(title="Chairs for the office", responsible=alice)
    DealFactory(title="Another deal of mine", responsible=alice)
    do_save_to_crm(message, alice, item=deal)
    page = page_of(client.get(reverse("web:conversation", args=[conversation.pk])))
    assert reverse("web:crm_save", args=[message.pk]) in page
    assert 'value="lead"' in page and 'value="contact-deal"' in page
    assert 'value="smart:warranty-claim"' in page
    assert "Move from deal “Chairs for the office” to" in page
    assert reverse("web:crm_move", args=[message.pk]) in page
    assert "Deal: Another deal of mine" in page  # a candidate to move to, without script
    assert "crm-picker.js" in page


# ---------------------------------------------------------------------- save


def test_saving_an_email_to_a_new_lead_shows_it_on_the_conversation(client, alice, mailbox, arrive):
    message, conversation = arrive(mailbox, make_email(subject="Job offer?"))
    response = save(client, message, conversation, create="lead")
    lead = Lead.objects.get()
    assert lead.responsible == alice and emails_on(lead) == ["Job offer?"]
    assert response.redirect_chain[-1][0].startswith(
        reverse("web:conversation", args=[conversation.pk])
    )
    page = page_of(response)
    assert "Saved to the CRM: lead “Job offer?”." in page
    assert f'href="{reverse("web:lead", args=[lead.pk])}"' in page  # the new binding


def test_saving_an_email_to_an_existing_deal(client, alice, mailbox, arrive):
    deal = DealFactory(title="Chairs", responsible=alice)
    message, conversation = arrive(mailbox, make_email(subject="Forwarded"))
    page = page_of(save(client, message, conversation, item=f"deal:{deal.pk}"))
    assert emails_on(deal) == ["Forwarded"]
    assert "Saved to the CRM: deal “Chairs”." in page
    assert f'href="{reverse("web:deal", args=[deal.pk])}"' in page


def test_saving_to_a_deal_the_user_may_read_but_not_edit_says_why(client, mailbox, arrive):
    dora = deal_reader("dora")
    do_grant_mailbox(mailbox, dora, MailboxGrant.Level.READ)
    deal = DealFactory(title="Erik's deal", responsible=deal_reader("erik"))
    message, conversation = arrive(mailbox, make_email())
    client.force_login(dora)
    response = save(client, message, conversation, item=f"deal:{deal.pk}")
    assert response.status_code == 200  # back on the conversation, not a 403 page
    page = page_of(response)
    assert "You may not edit the deal “Erik's deal”" in page
    assert "Saved to the CRM" not in page and emails_on(deal) == []


def test_saving_to_an_unreadable_deal_names_nothing_of_it(client, alice, mailbox, arrive):
    deal = DealFactory(title="Secret deal", responsible=manager(username="bob"))
    message, conversation = arrive(mailbox, make_email())
    page = page_of(save(client, message, conversation, item=f"deal:{deal.pk}"))
    assert "That CRM item is not there, or you may not see it" in page
    assert "Secret deal" not in page and emails_on(deal) == []


@pytest.mark.parametrize(
    ("fields", "explanation"),
    [
        (
            {"headers": {"Auto-Submitted": "auto-replied"}},
            "This email is an auto-reply, not a person's email: machine mail never goes to the CRM",
        ),
        (
            {"sender": "Bob <bob@acme.test>", "to": "alice@acme.test"},
            "This email is between the organisation's own people: internal mail never goes "
            "to the CRM.",
        ),
    ],
    ids=["auto-reply", "internal"],
)
def test_saving_machine_or_internal_mail_is_refused_with_the_explanation(
    client, alice, mailbox, arrive, fields, explanation
):
    UserFactory(username="bob", email="bob@acme.test")
    message, conversation = arrive(mailbox, make_email(**fields))
    response = save(client, message, conversation, create="lead")
    assert response.status_code == 200
    assert explanation in page_of(response)
    assert not Lead.objects.exists() and not TimelineEntry.objects.exists()


def test_saving_without_access_to_the_mailbox_says_why(client, mailbox, arrive):
    message, conversation = arrive(mailbox, make_email())
    client.force_login(manager(username="carol"))
    response = save(client, message, conversation, create="lead")
    assert response.status_code == 400
    assert "You have no access to a mailbox with this email" in page_of(response)
    assert not Lead.objects.exists()


def test_saving_needs_a_choice(client, alice, mailbox, arrive):
    message, conversation = arrive(mailbox, make_email())
    page = page_of(save(client, message, conversation))
    assert "Choose what to create, or an existing item" in page
    assert not Lead.objects.exists()


def test_the_save_page_finds_items_without_script(client, alice, mailbox, arrive):
    message, conversation = arrive(mailbox, make_email())
    DealFactory(title="Oak chairs", responsible=alice)
    DealFactory(title="Steel desks", responsible=alice)
    page = page_of(
        client.get(
            reverse("web:crm_save", args=[message.pk]),
            {"q": "oak", "conversation": conversation.pk},
        )
    )
    assert "Deal: Oak chairs" in page and "Steel desks" not in page


# ---------------------------------------------------------------------- move


def move(client, message, conversation, source, target):
    return client.post(
        reverse("web:crm_move", args=[message.pk]),
        {
            "conversation": conversation.pk,
            "source": f"deal:{source.pk}",
            "target": f"deal:{target.pk}",
        },
        follow=True,
    )


def test_moving_an_email_between_own_deals(client, alice, mailbox, arrive):
    wrong = DealFactory(title="Wrong", responsible=alice)
    right = DealFactory(title="Right", responsible=alice)
    message, conversation = arrive(mailbox, make_email(subject="Invoice"))
    do_save_to_crm(message, alice, item=wrong)
    page = page_of(move(client, message, conversation, wrong, right))
    assert emails_on(right) == ["Invoice"] and emails_on(wrong) == []
    assert "Moved to deal “Right”." in page
    assert f'href="{reverse("web:deal", args=[right.pk])}"' in page


def test_moving_from_a_deal_the_user_cannot_see_is_refused(client, alice, mailbox, arrive):
    bob = manager(username="bob")
    do_grant_mailbox(mailbox, bob, MailboxGrant.Level.READ)
    theirs = DealFactory(title="Alice's deal", responsible=alice)
    mine = DealFactory(title="Bob's deal", responsible=bob)
    message, conversation = arrive(mailbox, make_email(subject="Invoice"))
    do_save_to_crm(message, alice, item=theirs)
    client.force_login(bob)
    page = page_of(move(client, message, conversation, theirs, mine))
    # Bob may not even see Alice's deal: the move names no item he cannot read.
    assert "you may not see it" in page
    assert emails_on(theirs) == ["Invoice"] and emails_on(mine) == []


def test_moving_to_a_deal_the_user_may_read_but_not_edit_says_why(client, mailbox, arrive):
    dora, erik = deal_reader("dora"), deal_reader("erik")
    for user in (dora, erik):
        do_grant_mailbox(mailbox, user, MailboxGrant.Level.READ)
    hers = DealFactory(title="Dora's deal", responsible=dora)
    his = DealFactory(title="Erik's deal", responsible=erik)
    message, conversation = arrive(mailbox, make_email(subject="Invoice"))
    do_save_to_crm(message, dora, item=hers)
    client.force_login(dora)
    page = page_of(move(client, message, conversation, hers, his))
    assert "You may not edit the deal “Erik's deal”" in page
    assert emails_on(hers) == ["Invoice"] and emails_on(his) == []
    # And the other way round: Erik may not take it from Dora's deal.
    client.force_login(erik)
    page = page_of(move(client, message, conversation, hers, his))
    assert "You may not edit the deal “Dora's deal”" in page
    assert emails_on(hers) == ["Invoice"]


def test_moving_an_email_of_a_mailbox_the_user_may_not_read_is_not_found(
    client, alice, mailbox, arrive
):
    """GIVEN a manager who edits both deals but may not read the email's mailbox
    WHEN they POST the move THEN 404, as the move form's GET answers, and nothing moves."""
    bob = manager(username="bob")
    first = DealFactory(title="First", responsible=bob)
    second = DealFactory(title="Second", responsible=bob)
    message, conversation = arrive(mailbox, make_email(subject="Invoice"))
    activity = do_record_email_activity(message, direction="in")
    do_bind_activity(activity, first)  # as capture binds it: bob is the deal's person
    client.force_login(bob)
    url = reverse("web:crm_move", args=[message.pk])
    assert client.get(url, {"source": f"deal:{first.pk}"}).status_code == 404
    response = client.post(url, {"source": f"deal:{first.pk}", "target": f"deal:{second.pk}"})
    assert response.status_code == 404
    assert emails_on(first) == ["Invoice"] and emails_on(second) == []
    assert not timeline_of(second).exists()


def test_the_move_page_lists_only_editable_deals(client, alice, mailbox, arrive):
    source = DealFactory(title="Source", responsible=alice)
    DealFactory(title="Mine too", responsible=alice)
    DealFactory(title="Not mine", responsible=manager(username="bob"))
    message, conversation = arrive(mailbox, make_email())
    do_save_to_crm(message, alice, item=source)
    page = page_of(
        client.get(reverse("web:crm_move", args=[message.pk]), {"source": f"deal:{source.pk}"})
    )
    assert "Deal: Mine too" in page and "Not mine" not in page
    assert "Deal: Source" not in page


# -------------------------------------------------------------------- search


def test_item_search_returns_only_readable_items(client, alice):
    bob = manager(username="bob")
    LeadFactory(title="Anna wants chairs", responsible=alice)
    LeadFactory(title="Anna's secret", responsible=bob)
    ContactFactory(name="Anna Client", email="anna@customer.test", responsible=alice)
    ContactFactory(name="Anna Hidden", email="anna@hidden.test", responsible=bob)
    DealFactory(title="Chairs for Anna", responsible=alice)
    DealFactory(title="Desks for Anna", responsible=bob)
    smart = SmartItemFactory(title="Anna's claim", responsible=alice)
    SmartItemFactory(title="Anna's other claim", responsible=bob, smart_type=smart.smart_type)
    items = client.get(reverse("web:crm_item_search"), {"q": "anna"}).json()["items"]
    titles = sorted(i["title"] for i in items)
    assert titles == ["Anna Client", "Anna wants chairs", "Anna's claim", "Chairs for Anna"]
    # By email too, and narrowed to a kind.
    items = client.get(
        reverse("web:crm_item_search"), {"q": "customer.test", "kind": "contact"}
    ).json()["items"]
    assert [(i["ref"], i["text"]) for i in items] == [
        (f"contact:{items[0]['id']}", "Contact: Anna Client (anna@customer.test)")
    ]


def test_item_search_returns_at_most_20(client, alice):
    for n in range(30):
        DealFactory(title=f"Order {n}", responsible=alice)
    items = client.get(reverse("web:crm_item_search"), {"q": "order"}).json()["items"]
    assert len(items) == 20


def test_item_search_needs_a_login(client):
    response = client.get(reverse("web:crm_item_search"), {"q": "a"})
    assert response.status_code == 302 and "login" in response["Location"]


def test_the_deal_form_pickers_are_searchable(client, alice):
    page = client.get(reverse("web:deal_create")).content.decode()
    assert f'data-item-search="{reverse("web:crm_item_search")}?kind=contact"' in page
    assert "crm-picker.js" in page


# ---------------------------------------------------------------------- CSRF


def test_saving_and_moving_need_the_csrf_token(alice, mailbox, arrive):
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(alice)
    deal = DealFactory(responsible=alice)
    other = DealFactory(responsible=alice)
    message, conversation = arrive(mailbox, make_email())
    response = strict.post(reverse("web:crm_save", args=[message.pk]), {"create": "lead"})
    assert response.status_code == 403 and not Lead.objects.exists()
    do_save_to_crm(message, alice, item=deal)
    response = strict.post(
        reverse("web:crm_move", args=[message.pk]),
        {"source": f"deal:{deal.pk}", "target": f"deal:{other.pk}"},
    )
    assert response.status_code == 403 and emails_on(other) == []
    assert Deal.objects.count() == 2
