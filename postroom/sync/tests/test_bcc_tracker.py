"""The BCC tracker through the real ingress, spoken to with smtplib as an MTA would:
mail a user sends with their tracker address in BCC lands on the timelines of its
recipients; forged, replaced and misused addresses are refused with a clear 550."""

import logging
import smtplib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from postroom import jobs
from postroom.crm.actions import items_of
from postroom.crm.models import Activity, Contact, Deal, Lead
from postroom.mail.models import Conversation, Message, MessageCopy
from postroom.mailboxes import personal
from postroom.mailboxes.access import mailboxes_for
from postroom.mailboxes.actions import ConnectionSettings, do_add_mailbox
from postroom.mailboxes.models import Folder
from postroom.sync.ingress import INGRESS_FOLDER, Ingress
from postroom.sync.service import discover_folders, sync_mailbox
from postroom.testing.factories import (
    MailboxFactory,
    UserFactory,
    client_with_open_deal,
)
from postroom.testing.mail import make_email

# Transactional: the ingress stores in its own threads, with their own connections.
pytestmark = pytest.mark.django_db(transaction=True)

ALICE = "alice@acme.test"
ANNA = "anna@customer.test"


@pytest.fixture
def ingress() -> Iterator[Ingress]:
    with Ingress(smtp_bind="127.0.0.1:0", lmtp_bind="127.0.0.1:0", max_message_size=0) as server:
        yield server


@pytest.fixture
def alice():
    return UserFactory(username="alice", email=ALICE)


@pytest.fixture
def anna():
    """A known contact, with her company and an open deal."""
    return client_with_open_deal("Anna Client", ANNA)


def _tracker(user) -> str:
    return personal.tracker_address_of(personal.tracker_for(user))


def _send(ingress: Ingress, raw: bytes, rcpt: list[str], mail_from: str = ALICE) -> dict:
    with smtplib.SMTP(*ingress.binds["smtp"], timeout=10) as client:
        return client.sendmail(mail_from, rcpt, raw)


def test_mail_bccd_to_the_tracker_lands_on_the_recipients_timelines_as_sent_mail(
    ingress, alice, anna
):
    tracker = _tracker(alice)
    raw = make_email(sender=f"Alice <{ALICE}>", to=f"Anna <{ANNA}>", subject="Our offer")
    assert _send(ingress, raw, [tracker]) == {}

    copy = MessageCopy.objects.select_related("folder", "mailbox").get()
    assert copy.mailbox.tracker.user == alice
    assert (copy.folder.name, copy.folder.role) == (INGRESS_FOLDER, Folder.Role.SENT)
    jobs.drain_embedded_queue()
    activity = Activity.objects.get()
    assert activity.direction == "out"
    assert {anna, anna.company, Deal.objects.get()} == set(items_of(activity))
    # The mail itself is in alice's hidden tracker mailbox, hers alone.
    conversation = Conversation.objects.get()
    assert conversation.mailbox in mailboxes_for(alice)
    assert conversation.mailbox not in mailboxes_for(UserFactory(is_superuser=True))


def test_tracker_mail_to_people_unknown_to_the_crm_creates_nothing(ingress, alice):
    raw = make_email(sender=ALICE, to="stranger@unknown.test", subject="Hello")
    assert _send(ingress, raw, [_tracker(alice)]) == {}
    jobs.drain_embedded_queue()
    assert Message.objects.get().status == Message.Status.PARSED
    assert not Activity.objects.exists()
    assert not Lead.objects.exists() and not Contact.objects.exists()


def test_a_forged_tracker_address_is_refused_at_rcpt(ingress, alice, settings, caplog):
    caplog.set_level(logging.INFO, logger="postroom.sync.ingress")
    genuine = _tracker(alice)
    local, _, domain = genuine.partition("@")
    forged = f"{local[:-4]}{'aaaa' if not local.endswith('aaaa') else 'bbbb'}@{domain}"
    guessed = f"track-{alice.pk}-aaaaaaaa.{'a' * 32}@{domain}"
    with smtplib.SMTP(*ingress.binds["smtp"], timeout=10) as client:
        client.ehlo()
        client.mail(ALICE)
        for address in (forged, guessed):
            code, reply = client.rcpt(address)
            assert (code, reply.decode()) == (
                550,
                f"5.1.1 <{address}>: not a valid tracker address (its signature is wrong)",
            )
        assert client.rcpt(genuine)[0] == 250
    assert not MessageCopy.objects.exists()
    assert f"rejected <{forged}>" in caplog.text


def test_a_replaced_tracker_address_is_refused_at_rcpt(ingress, alice):
    old = _tracker(alice)
    personal.do_regenerate_tracker(alice)
    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        _send(ingress, make_email(sender=ALICE, to=ANNA), [old])
    code, reply = refused.value.recipients[old]
    assert (code, reply.decode()) == (
        550,
        f"5.1.1 <{old}>: this tracker address was replaced by a new one",
    )
    assert _send(ingress, make_email(sender=ALICE, to=ANNA), [_tracker(alice)]) == {}


def test_the_tracker_address_of_a_mailbox_is_not_reachable_without_its_token(ingress, alice):
    """The hidden mailbox is found only through the signed token, never by address alone:
    a tracker mailbox's old address must not be a back door once it is regenerated."""
    mailbox = personal.tracker_for(alice).mailbox
    personal.do_regenerate_tracker(alice)
    mailbox.refresh_from_db()
    assert personal.find_tracker(mailbox.address).mailbox_id == mailbox.pk


def test_the_tracker_refuses_mail_its_user_did_not_send(ingress, alice, caplog):
    caplog.set_level(logging.INFO, logger="postroom.sync.ingress")
    tracker = _tracker(alice)
    raw = make_email(sender="mallory@evil.test", to=ANNA, subject="Fake")
    with pytest.raises(smtplib.SMTPDataError) as refused:
        _send(ingress, raw, [tracker], mail_from="mallory@evil.test")
    assert refused.value.smtp_code == 550
    reply = refused.value.smtp_error.decode()
    assert reply.startswith(f"5.7.1 <{tracker}>: a BCC tracker takes only mail its user sent")
    assert "mallory@evil.test" in reply
    assert ALICE not in reply, "the user's addresses are not told to strangers"
    assert not MessageCopy.objects.exists()
    assert "refused a message from <mallory@evil.test>" in caplog.text
    # Over LMTP the refusal is the tracker's alone.
    with smtplib.LMTP(*ingress.binds["lmtp"], timeout=10) as client:
        client.ehlo()
        client.mail("mallory@evil.test")
        client.rcpt(tracker)
        code, _ = client.data(raw)
    assert code == 550


def test_one_email_seen_through_a_personal_mailbox_a_shared_mailbox_and_the_tracker_is_one_activity(  # noqa: E501
    ingress, dovecot, mail_user, other_mail_user, alice, anna
):
    """Alice writes to Anna from her own mailbox, copying the shared sales@ mailbox, with
    her tracker in BCC: three routes, each storing a copy; one Message, one Activity."""
    own = personal.do_add_personal_mailbox(
        alice,
        ConnectionSettings(
            address=mail_user.address,
            name="Alice's mail",
            imap_host=dovecot.host,
            imap_port=dovecot.imap_port,
            imap_security="none",
            username=mail_user.username,
            password=mail_user.password,
        ),
        personal.PersonalSettings(),
    )
    sales = do_add_mailbox(
        ConnectionSettings(
            address=other_mail_user.address,
            name="Sales",
            imap_host=dovecot.host,
            imap_port=dovecot.imap_port,
            imap_security="none",
            username=other_mail_user.username,
            password=other_mail_user.password,
        ),
        crm_rule="lead",
    )
    raw = make_email(
        sender=f"Alice <{mail_user.address}>",
        to=f"Anna <{ANNA}>",
        subject="Our offer",
        headers={"Cc": other_mail_user.address},
        message_id="<offer-1@acme.test>",
    ).replace(b"\n", b"\r\n")  # as on the wire: smtplib sends bytes as they are
    # Her client files it in Sent (with the Bcc header some clients keep there)...
    sent = raw.replace(b"Subject:", f"Bcc: {_tracker(alice)}\r\nSubject:".encode(), 1)
    dovecot.append(
        mail_user.username, mail_user.password, sent, folder="Sent",
        date=datetime.now(UTC) - timedelta(minutes=1),
    )  # fmt: skip
    # ...her provider delivers it to sales@ (with a Received header of its own)...
    dovecot.deliver(b"Received: from mx.acme.test; today\r\n" + raw, to=other_mail_user.address)
    # ...and to the tracker, through the ingress.
    assert _send(ingress, raw, [_tracker(alice)], mail_from=mail_user.address) == {}
    for mailbox in (own, sales):
        discover_folders(mailbox)
        sync_mailbox(mailbox)
    jobs.drain_embedded_queue()

    message = Message.objects.get()
    places = {(c.mailbox_id, c.folder.role) for c in message.copies.select_related("folder")}
    tracker_box = personal.tracker_for(alice).mailbox_id
    assert places == {(own.pk, "sent"), (sales.pk, "inbox"), (tracker_box, "sent")}
    activity = Activity.objects.get()
    assert activity.message == message and activity.direction == "out"
    assert {anna, anna.company, Deal.objects.get()} == set(items_of(activity))
    assert not Lead.objects.exists(), "alice's mail to a customer never makes a lead"


def test_smtp_asks_a_tracker_after_a_mailbox_to_come_in_a_transaction_of_its_own(ingress, alice):
    """The tracker refuses mail its user did not send, the mailbox takes it: with one
    reply after DATA for both, the sender would bounce (or retry) both. So one SMTP
    transaction never mixes them: the later one gets 452 4.5.3, and the client sends it
    separately, getting the tracker's own 550."""
    sales = MailboxFactory()
    tracker = _tracker(alice)
    raw = make_email(sender="mallory@evil.test", to=sales.address, subject="Offer")
    with smtplib.SMTP(*ingress.binds["smtp"], timeout=10) as client:
        # smtplib, like an MTA, delivers to the recipients it got a 250 for...
        refused = client.sendmail("mallory@evil.test", [sales.address, tracker], raw)
        code, reply = refused[tracker]
        assert (code, reply.decode()[:6]) == (452, "4.5.3 ")
        # ...and then sends the others on their own.
        with pytest.raises(smtplib.SMTPDataError) as alone:
            client.sendmail("mallory@evil.test", [tracker], raw)
        assert alone.value.smtp_code == 550
        assert MessageCopy.objects.get().mailbox == sales
        # The other way round too: the tracker first, the mailbox later.
        own = make_email(sender=ALICE, to=sales.address, subject="Mine")
        refused = client.sendmail(ALICE, [tracker, sales.address], own)
        assert refused[sales.address][0] == 452
    assert MessageCopy.objects.filter(mailbox=sales).count() == 1
    assert MessageCopy.objects.get(mailbox=personal.tracker_for(alice).mailbox)


def test_smtp_asks_a_second_users_tracker_to_come_separately_and_lmtp_takes_both(ingress, alice):
    bob = UserFactory(username="bob", email="bob@acme.test")
    raw = make_email(sender=f"Alice <{ALICE}>", to=ANNA)
    with smtplib.SMTP(*ingress.binds["smtp"], timeout=10) as client:
        client.ehlo()
        client.mail(ALICE)
        assert client.rcpt(_tracker(alice))[0] == 250
        assert client.rcpt(_tracker(alice).upper())[0] == 250, "the same tracker twice"
        assert client.rcpt(_tracker(bob))[0] == 452
    # LMTP answers per recipient after DATA: nothing to keep apart.
    with smtplib.LMTP(*ingress.binds["lmtp"], timeout=10) as client:
        client.ehlo()
        client.mail(ALICE)
        assert client.rcpt(_tracker(alice))[0] == 250
        assert client.rcpt(_tracker(bob))[0] == 250
        first = client.data(raw)
        second = client.getreply()
    assert first[0] == 250, "alice's tracker takes the mail alice sent"
    assert second[0] == 550, "bob's refuses it, alone"
    assert MessageCopy.objects.get().mailbox == personal.tracker_for(alice).mailbox
