"""The inbox (home after login) and the workflow's views on a conversation."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from postroom.accounts.models import Notification
from postroom.mail.ingest import FetchedMessage, parse_stored, store_copy
from postroom.mail.models import Comment, Conversation, ReplyPresence
from postroom.mail.threads import thread_message
from postroom.mail.workflow import do_assign, do_mark_replying, do_set_status, do_snooze
from postroom.mailboxes.actions import do_grant_mailbox
from postroom.mailboxes.models import MailboxGrant
from postroom.testing.factories import ConversationFactory, MailboxFactory, UserFactory
from postroom.testing.mail import make_email
from postroom.testing.web import logged_in

pytestmark = pytest.mark.django_db

Status = Conversation.Status
REPLY = MailboxGrant.Level.REPLY


@pytest.fixture
def sales():
    return MailboxFactory(name="Sales", address="sales@acme.test")


@pytest.fixture
def alice(sales):
    user = UserFactory(username="alice", first_name="Alice", last_name="Smith")
    do_grant_mailbox(sales, user, REPLY)
    return user


@pytest.fixture
def bob(sales):
    user = UserFactory(username="bob", first_name="Bob", last_name="Jones")
    do_grant_mailbox(sales, user, REPLY)
    return user


@pytest.fixture
def stranger():
    return UserFactory(username="mallory")


def arrive(mailbox, uid: int, **fields) -> Conversation:
    copy = store_copy(
        mailbox.folders.get(name="INBOX"), 1, FetchedMessage(uid, make_email(**fields))
    )
    return thread_message(parse_stored(copy.message), mailbox)


def _listed(response) -> list[str]:
    return [row.conversation.subject for row in response.context["rows"]]


# ------------------------------------------------------------------- the list


def test_the_inbox_is_home_after_login(alice):
    response = logged_in(alice).get(reverse("web:home"))
    assert response.status_code == 302 and response["Location"] == reverse("web:inbox")


def test_each_view_lists_its_conversations(sales, alice, bob):
    mine = ConversationFactory(mailbox=sales, subject="Mine", responsible=alice)
    ConversationFactory(mailbox=sales, subject="Bob's", responsible=bob)
    ConversationFactory(mailbox=sales, subject="Nobody's")
    ConversationFactory(mailbox=sales, subject="Waiting", status=Status.PENDING)
    ConversationFactory(mailbox=sales, subject="Done", status=Status.CLOSED)
    ConversationFactory(
        mailbox=sales, subject="Later", snoozed_until=timezone.now() + timedelta(days=1)
    )
    client = logged_in(alice)
    view = lambda name: _listed(client.get(reverse("web:inbox"), {"view": name}))  # noqa: E731
    assert view("mine") == ["Mine"]
    assert view("unassigned") == ["Nobody's"]
    assert set(view("open")) == {"Mine", "Bob's", "Nobody's"}
    assert view("waiting") == ["Waiting"]
    assert view("snoozed") == ["Later"]
    assert view("closed") == ["Done"]
    counts = {name: count for name, _, count in client.get(reverse("web:inbox")).context["views"]}
    assert counts == {
        "mine": 1, "unassigned": 1, "open": 3, "waiting": 1, "snoozed": 1, "unanswered": 0,
        "closed": None,
    }  # fmt: skip
    assert mine.subject in client.get(reverse("web:inbox")).content.decode()


def test_a_row_shows_sender_snippet_responsible_status_and_crm_item(sales, alice):
    conversation = arrive(sales, 1, subject="Chairs", body="We need forty chairs by Friday.")
    do_assign(conversation, alice, acting_user=alice)
    page = logged_in(alice).get(reverse("web:inbox")).content.decode()
    assert "Anna Client" in page and "We need forty chairs by Friday." in page
    assert 'title="Alice Smith">AS<' in page and "status-open" in page


def test_the_inbox_never_shows_a_mailbox_the_user_may_not_read(sales, alice, stranger):
    ConversationFactory(mailbox=sales, subject="Secret")
    assert _listed(logged_in(stranger).get(reverse("web:inbox"), {"view": "open"})) == []


def test_a_personal_mailbox_is_its_owners_alone_even_for_admins(alice):
    personal = MailboxFactory(kind="personal", owner=alice)
    ConversationFactory(mailbox=personal, subject="Private")
    admin = UserFactory(username="root", is_superuser=True)
    assert _listed(logged_in(admin).get(reverse("web:inbox"), {"view": "open"})) == []
    assert _listed(logged_in(alice).get(reverse("web:inbox"), {"view": "open"})) == ["Private"]


def test_filtering_by_an_unreadable_mailbox_is_not_found(sales, stranger):
    response = logged_in(stranger).get(reverse("web:inbox"), {"mailbox": sales.pk})
    assert response.status_code == 404


def test_filters_narrow_the_view(sales, alice, bob):
    other = MailboxFactory(name="Support")
    do_grant_mailbox(other, alice)
    ConversationFactory(mailbox=sales, subject="Sales, Bob's", responsible=bob)
    ConversationFactory(mailbox=sales, subject="Sales, with a file", has_attachment=True)
    ConversationFactory(mailbox=other, subject="Support")
    client = logged_in(alice)
    get = lambda **q: set(_listed(client.get(reverse("web:inbox"), {"view": "open", **q})))  # noqa: E731
    assert get(mailbox=other.pk) == {"Support"}
    assert get(responsible=bob.pk) == {"Sales, Bob's"}
    assert get(responsible="none", mailbox=sales.pk) == {"Sales, with a file"}
    assert get(attachment="1") == {"Sales, with a file"}
    assert get(status="closed") == set()
    assert get(crm="none") == {"Sales, Bob's", "Sales, with a file", "Support"}
    assert get(crm="lead") == set()


# ------------------------------------------------------------------- bulk actions


def test_bulk_assign_and_close(sales, alice, bob):
    one = ConversationFactory(mailbox=sales)
    two = ConversationFactory(mailbox=sales)
    client = logged_in(alice)
    ids = [one.pk, two.pk]
    response = client.post(
        reverse("web:inbox_bulk"),
        {"conversation": ids, "action": "assign", "responsible": bob.pk},
    )
    assert response.status_code == 302
    assert set(Conversation.objects.values_list("responsible", flat=True)) == {bob.pk}
    assert Notification.objects.filter(user=bob).count() == 2
    client.post(reverse("web:inbox_bulk"), {"conversation": ids, "action": "closed"})
    assert set(Conversation.objects.values_list("status", flat=True)) == {Status.CLOSED}


def test_bulk_snooze_moves_them_to_snoozed(sales, alice):
    one = ConversationFactory(mailbox=sales)
    logged_in(alice).post(
        reverse("web:inbox_bulk"), {"conversation": [one.pk], "action": "snooze", "snooze": "1d"}
    )
    one.refresh_from_db()
    assert one.snoozed_until is not None


def test_bulk_refuses_someone_who_may_not_read_the_mailbox_as_responsible(sales, alice, stranger):
    one = ConversationFactory(mailbox=sales)
    logged_in(alice).post(
        reverse("web:inbox_bulk"),
        {"conversation": [one.pk], "action": "assign", "responsible": stranger.pk},
    )
    one.refresh_from_db()
    assert one.responsible is None


def test_bulk_on_an_unreadable_conversation_is_not_found(sales, stranger):
    one = ConversationFactory(mailbox=sales)
    response = logged_in(stranger).post(
        reverse("web:inbox_bulk"), {"conversation": [one.pk], "action": "closed"}
    )
    assert response.status_code == 404
    one.refresh_from_db()
    assert one.status == Status.OPEN


def test_bulk_needs_the_reply_right(sales):
    reader = UserFactory(username="reader")
    do_grant_mailbox(sales, reader)  # read only
    one = ConversationFactory(mailbox=sales)
    response = logged_in(reader).post(
        reverse("web:inbox_bulk"), {"conversation": [one.pk], "action": "closed"}
    )
    assert response.status_code == 403
    assert "reply right" in response.content.decode()


# ------------------------------------------------------------------- a conversation


def test_the_conversation_page_shows_the_workflow_and_history(sales, alice, bob):
    conversation = arrive(sales, 1, subject="Chairs")
    do_assign(conversation, bob, acting_user=alice, reason="VIP")
    page = logged_in(alice).get(reverse("web:conversation", args=[conversation.pk]))
    text = page.content.decode()
    assert page.status_code == 200
    assert "Take it" in text and "assigned it to Bob Jones" in text and "(VIP)" in text


def test_take_assign_and_close_from_the_conversation_page(sales, alice, bob):
    conversation = ConversationFactory(mailbox=sales)
    client = logged_in(alice)
    url = reverse("web:conversation_action", args=[conversation.pk])
    client.post(url, {"action": "take"})
    conversation.refresh_from_db()
    assert conversation.responsible == alice
    client.post(url, {"action": "assign", "responsible": bob.pk})
    client.post(url, {"action": "closed"})
    conversation.refresh_from_db()
    assert (conversation.responsible, conversation.status) == (bob, Status.CLOSED)


def test_snooze_until_a_chosen_time(sales, alice):
    conversation = ConversationFactory(mailbox=sales)
    until = (timezone.localtime() + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
    logged_in(alice).post(
        reverse("web:conversation_action", args=[conversation.pk]),
        {"action": "snooze", "snooze": "", "until": until},
    )
    conversation.refresh_from_db()
    assert conversation.snoozed_until is not None


def test_workflow_actions_need_the_reply_right(sales, stranger):
    conversation = ConversationFactory(mailbox=sales)
    reader = UserFactory(username="reader")
    do_grant_mailbox(sales, reader)
    url = reverse("web:conversation_action", args=[conversation.pk])
    assert logged_in(stranger).post(url, {"action": "take"}).status_code == 404
    assert logged_in(reader).post(url, {"action": "take"}).status_code == 403
    conversation.refresh_from_db()
    assert conversation.responsible is None


def test_a_comment_with_a_mention_notifies_and_shows_as_internal(sales, alice, bob):
    conversation = arrive(sales, 1, subject="Chairs")
    client = logged_in(alice)
    response = client.post(
        reverse("web:conversation_comment", args=[conversation.pk]),
        {"body": "@bob do we have forty?"},
    )
    comment = Comment.objects.get()
    assert response["Location"].endswith(f"#comment-{comment.pk}")
    assert list(comment.mentions.all()) == [bob]
    assert Notification.objects.get(user=bob).url.endswith(f"#comment-{comment.pk}")
    page = client.get(reverse("web:conversation", args=[conversation.pk])).content.decode()
    assert "internal comment" in page and "do we have forty?" in page
    assert '"username": "bob"' in page  # the autocomplete's list


def test_a_comment_is_never_in_a_replys_quoted_text(sales, alice):
    conversation = arrive(sales, 1, subject="Chairs", body="How much?")
    client = logged_in(alice)
    client.post(
        reverse("web:conversation_comment", args=[conversation.pk]), {"body": "SECRET NOTE"}
    )
    reply = client.get(reverse("web:reply", args=[conversation.pk])).content.decode()
    assert "How much?" in reply and "SECRET NOTE" not in reply


def test_commenting_on_an_unreadable_conversation_is_not_found(sales, stranger):
    conversation = ConversationFactory(mailbox=sales)
    response = logged_in(stranger).post(
        reverse("web:conversation_comment", args=[conversation.pk]), {"body": "hi"}
    )
    assert response.status_code == 404 and not Comment.objects.exists()


def test_each_emails_own_subject_shows_where_it_differs(sales, alice):
    conversation = arrive(sales, 1, message_id="<q@customer.test>", subject="Chairs")
    arrive(sales, 2, subject="Re: Chairs", in_reply_to="<q@customer.test>")
    arrive(sales, 3, subject="Tables too?", in_reply_to="<q@customer.test>")
    page = logged_in(alice).get(reverse("web:conversation", args=[conversation.pk]))
    text = page.content.decode()
    assert "Subject: Tables too?" in text and "Subject: Re: Chairs" not in text


# ------------------------------------------------------------------- who is replying


def test_others_see_who_is_replying(sales, alice, bob):
    conversation = ConversationFactory(mailbox=sales)
    logged_in(alice).post(reverse("web:conversation_replying", args=[conversation.pk]))
    url = reverse("web:conversation_presence", args=[conversation.pk])
    assert "Alice Smith is replying" in logged_in(bob).get(url).content.decode()
    assert "replying" not in logged_in(alice).get(url).content.decode()  # not to herself
    logged_in(alice).post(
        reverse("web:conversation_replying", args=[conversation.pk]), {"stop": "1"}
    )
    assert "replying" not in logged_in(bob).get(url).content.decode()


def test_a_presence_gone_quiet_expires(sales, alice, bob):
    conversation = ConversationFactory(mailbox=sales)
    do_mark_replying(conversation, alice)
    ReplyPresence.objects.update(seen_at=timezone.now() - timedelta(minutes=5))
    url = reverse("web:conversation_presence", args=[conversation.pk])
    assert "replying" not in logged_in(bob).get(url).content.decode()


def test_presence_endpoints_check_permissions(sales, stranger):
    conversation = ConversationFactory(mailbox=sales)
    client = logged_in(stranger)
    assert (
        client.get(reverse("web:conversation_presence", args=[conversation.pk])).status_code == 404
    )
    assert (
        client.post(reverse("web:conversation_replying", args=[conversation.pk])).status_code == 404
    )
    assert not ReplyPresence.objects.exists()


def test_inbox_needs_login(client):
    assert client.get(reverse("web:inbox")).status_code == 302


def test_a_closed_snoozed_and_assigned_conversation_keeps_its_place(sales, alice):
    conversation = ConversationFactory(mailbox=sales)
    do_snooze(conversation, timezone.now() + timedelta(hours=1))
    do_set_status(conversation, Status.CLOSED)
    client = logged_in(alice)
    assert _listed(client.get(reverse("web:inbox"), {"view": "snoozed"})) == []
    assert len(_listed(client.get(reverse("web:inbox"), {"view": "closed"}))) == 1
