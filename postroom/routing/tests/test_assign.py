"""The pipeline's assign step: one decision assigns the conversation and the CRM item
the email created, in the capture's transaction."""

import pytest

from postroom import pipeline
from postroom.crm.models import Deal, Lead
from postroom.mail.ingest import FetchedMessage, store_copies
from postroom.mail.models import Conversation, ConversationEvent
from postroom.mailboxes.actions import do_grant_mailbox
from postroom.mailboxes.models import Folder, MailboxGrant
from postroom.routing.actions import do_add_rule
from postroom.routing.models import DistributionRule
from postroom.testing.factories import (
    ContactFactory,
    DealFactory,
    MailboxFactory,
    UserFactory,
)
from postroom.testing.mail import make_email

pytestmark = pytest.mark.django_db
Kind = DistributionRule.Kind


@pytest.fixture
def deliver():
    """Store emails in the mailbox's INBOX and run the pipeline's jobs on them."""
    uids = iter(range(1, 10_000))

    def deliver(mailbox, *raws: bytes) -> list[int]:
        folder = Folder.objects.get(mailbox=mailbox, role=Folder.Role.INBOX)
        ids = store_copies(folder, 1, [FetchedMessage(uid=next(uids), raw=r) for r in raws])
        pipeline.ingest.call(ids, mailbox.pk)
        if len(ids) > 1:  # a batch's capture is a job of its own
            pipeline.capture.call(ids, mailbox.pk)
        return ids

    return deliver


@pytest.fixture
def owner():
    return UserFactory(username="olga")


def reader(mailbox, *users):
    """Let them read the mailbox: only such people are made responsible for its mail."""
    for user in users:
        do_grant_mailbox(mailbox, user, MailboxGrant.Level.READ)
    return users[0] if len(users) == 1 else users


def test_a_vip_email_makes_the_senior_manager_responsible_for_conversation_and_lead(deliver, owner):
    mailbox = MailboxFactory(owner=owner, crm_rule="lead")
    senior = reader(mailbox, UserFactory(username="sam"))
    do_add_rule(mailbox, kind=Kind.KEYWORD, keywords="VIP", target_user=senior)
    deliver(mailbox, make_email(subject="VIP: 400 chairs"))
    conversation = Conversation.objects.get()
    assert conversation.responsible == senior
    assert Lead.objects.get().responsible == senior
    event = ConversationEvent.objects.get(conversation=conversation)
    assert "“VIP” in the subject" in event.detail["reason"]


def test_a_body_keyword_rule_reads_the_body_the_capture_otherwise_leaves_alone(deliver, owner):
    mailbox = MailboxFactory(owner=owner, crm_rule="contact-deal")
    billing = reader(mailbox, UserFactory())
    do_add_rule(mailbox, kind=Kind.KEYWORD, keywords="invoice", match_in="body",
                target_user=billing)  # fmt: skip
    deliver(mailbox, make_email(subject="Question", body="About the invoice of May"))
    assert Conversation.objects.get().responsible == billing
    assert Deal.objects.get().responsible == billing


def test_round_robin_over_a_batch_spreads_conversations_and_leads_evenly(deliver, owner):
    mailbox = MailboxFactory(owner=owner, crm_rule="lead")
    people = reader(mailbox, *[UserFactory() for _ in range(3)])
    do_add_rule(mailbox, kind=Kind.ROUND_ROBIN, queue_users=people)
    deliver(
        mailbox,
        *[make_email(sender=f"p{i}@customer{i}.test", subject=f"Request {i}") for i in range(6)],
    )
    for person in people:
        assert Conversation.objects.filter(responsible=person).count() == 2
        assert Lead.objects.filter(responsible=person).count() == 2
    for conversation in Conversation.objects.all():
        lead = Lead.objects.get(title=conversation.subject)
        assert lead.responsible_id == conversation.responsible_id


def test_a_reply_in_an_assigned_conversation_keeps_its_responsible_person(deliver, owner):
    mailbox = MailboxFactory(owner=owner, crm_rule="lead")
    people = reader(mailbox, *[UserFactory() for _ in range(2)])
    do_add_rule(mailbox, kind=Kind.ROUND_ROBIN, queue_users=people)
    deliver(mailbox, make_email(message_id="<first@customer.test>"))
    deliver(mailbox, make_email(subject="Re: Price request", in_reply_to="<first@customer.test>"))
    conversation = Conversation.objects.get()
    assert conversation.responsible == people[0]
    assert ConversationEvent.objects.filter(conversation=conversation).count() == 1


def test_nothing_matching_assigns_the_mailboxs_responsible_person(deliver, owner):
    mailbox = MailboxFactory(owner=owner, crm_rule="lead")
    do_add_rule(mailbox, kind=Kind.SENDER, senders="partner.test", target_user=UserFactory())
    deliver(mailbox, make_email())
    assert Conversation.objects.get().responsible == owner == Lead.objects.get().responsible


def test_a_known_clients_mail_goes_to_their_manager_with_route_to_manager_on(deliver, owner):
    manager = UserFactory(username="maria")
    contact = ContactFactory(email="anna@customer.test", responsible=manager)
    DealFactory(contact=contact, responsible=manager)
    mailbox = MailboxFactory(owner=owner, crm_rule="contact-deal", crm_route_to_manager=True)
    reader(mailbox, manager)
    do_add_rule(mailbox, kind=Kind.ROUND_ROBIN, queue_users=[reader(mailbox, UserFactory())])
    deliver(mailbox, make_email())
    assert Conversation.objects.get().responsible == manager


def test_a_deactivated_rule_person_never_leaves_the_email_unassigned(deliver, owner):
    gone = UserFactory(is_active=False)
    mailbox = MailboxFactory(owner=owner, crm_rule="lead")
    do_add_rule(mailbox, kind=Kind.KEYWORD, keywords="price", target_user=gone)
    deliver(mailbox, make_email())
    assert Conversation.objects.get().responsible == owner == Lead.objects.get().responsible


def test_outgoing_mail_assigns_nobody(deliver, owner):
    mailbox = MailboxFactory(owner=owner, crm_rule="lead")
    folder = Folder.objects.create(mailbox=mailbox, name="Sent", role=Folder.Role.SENT)
    ids = store_copies(
        folder, 1, [FetchedMessage(uid=1, raw=make_email(sender="sales@acme.test", to="x@y.test"))]
    )
    pipeline.ingest.call(ids, mailbox.pk)
    assert Conversation.objects.get().responsible is None


def test_a_conversation_someone_took_meanwhile_keeps_its_person(owner):
    from django.utils import timezone

    from postroom.accounts.models import Notification
    from postroom.mail.workflow import do_assign_new, do_take

    mailbox = MailboxFactory(owner=owner)
    alice, bob = reader(mailbox, UserFactory(username="alice"), UserFactory(username="bob"))
    taken, free = (
        Conversation.objects.create(mailbox=mailbox, subject=s, last_message_at=timezone.now())
        for s in ("Taken", "Free")
    )
    stale = Conversation.objects.get(pk=taken.pk)  # read before alice took it
    do_take(taken, alice)
    assert do_assign_new([(stale, bob, "rule 1"), (free, bob, "rule 1")]) == 1
    taken.refresh_from_db()
    free.refresh_from_db()
    assert (taken.responsible, free.responsible) == (alice, bob)
    event = ConversationEvent.objects.get(conversation=free)
    assert (event.kind, event.user, event.actor, event.detail) == (
        "assigned", bob, None, {"reason": "rule 1"}
    )  # fmt: skip
    assert Notification.objects.get(user=bob).text == (
        f"Postroom made you responsible for “Free” in {mailbox.address} (rule 1)"
    )
