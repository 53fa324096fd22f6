"""BCC tracker addresses: signed, case-proof, regenerable, one hidden mailbox per user."""

import pytest

from postroom.accounts import tracker as tokens
from postroom.mailboxes import personal
from postroom.mailboxes.access import mailboxes_for
from postroom.mailboxes.models import Mailbox
from postroom.testing.factories import MailboxFactory, UserFactory

pytestmark = pytest.mark.django_db

DOMAIN = "track.acme.test"


@pytest.fixture(autouse=True)
def ingress_domain(settings):
    settings.POSTROOM = {**settings.POSTROOM, "INGRESS_DOMAIN": DOMAIN}


def test_a_tracker_address_reads_back_whatever_case_a_mail_system_gives_it():
    address = tokens.tracker_address(42, "abcdefgh")
    assert address.startswith("track-42-abcdefgh.") and address.endswith(f"@{DOMAIN}")
    assert len(address.partition("@")[0]) <= 64, "RFC 5321 limit of a local part"
    expected = tokens.TrackerClaim(user_id=42, key="abcdefgh")
    assert tokens.read_tracker_address(address) == expected
    assert tokens.read_tracker_address(address.upper()) == expected
    assert tokens.read_tracker_address(f"<{address}>") == expected


def test_a_forged_or_altered_tracker_address_is_refused():
    address = tokens.tracker_address(42, "abcdefgh")
    local, _, domain = address.partition("@")
    other_user = local.replace("track-42-", "track-43-")
    with pytest.raises(tokens.ForgedTracker):
        tokens.read_tracker_address(f"{other_user}@{domain}")
    flipped = local[:-1] + ("b" if local.endswith("a") else "a")
    with pytest.raises(tokens.ForgedTracker):
        tokens.read_tracker_address(f"{flipped}@{domain}")
    with pytest.raises(tokens.ForgedTracker):
        tokens.read_tracker_address(f"track-42-abcdefgh@{domain}")
    with pytest.raises(tokens.ForgedTracker):
        tokens.read_tracker_address(f"track-anything.{'a' * 32}@{domain}")


def test_a_token_signed_with_another_secret_key_is_refused(settings):
    address = tokens.tracker_address(42, "abcdefgh")
    settings.SECRET_KEY = "another installation's key" * 2
    with pytest.raises(tokens.ForgedTracker):
        tokens.read_tracker_address(address)


def test_other_addresses_are_not_tracker_addresses():
    address = tokens.tracker_address(42, "abcdefgh")
    assert tokens.read_tracker_address(address.replace(DOMAIN, "acme.test")) is None
    assert tokens.read_tracker_address(f"sales@{DOMAIN}") is None
    assert tokens.read_tracker_address("not an address") is None


def test_each_user_gets_one_hidden_tracker_mailbox_seen_by_them_alone():
    alice, bob = UserFactory(), UserFactory(is_superuser=True)
    tracker = personal.tracker_for(alice)
    assert personal.tracker_for(alice) == tracker
    mailbox = tracker.mailbox
    assert (mailbox.kind, mailbox.owner, mailbox.has_imap) == (Mailbox.Kind.PERSONAL, alice, False)
    assert mailbox.address == personal.tracker_address_of(tracker)
    assert mailbox.crm_rule == "none"
    assert mailbox not in personal.personal_mailboxes(alice), "hidden from My mailboxes"
    assert mailbox in mailboxes_for(alice)
    assert mailbox not in mailboxes_for(bob), "not even an administrator reads it"
    assert personal.tracker_address_of(personal.tracker_for(bob)) != mailbox.address


def test_regenerating_refuses_the_old_address_and_keeps_the_mailbox():
    alice = UserFactory()
    old = personal.tracker_address_of(personal.tracker_for(alice))
    assert personal.find_tracker(old).mailbox_id is not None
    tracker = personal.do_regenerate_tracker(alice)
    new = personal.tracker_address_of(tracker)
    assert new != old
    assert "replaced" in personal.find_tracker(old).refusal
    assert personal.find_tracker(new).mailbox_id == tracker.mailbox_id
    tracker.mailbox.refresh_from_db()
    assert tracker.mailbox.address == new


def test_a_deactivated_users_tracker_takes_no_mail():
    alice = UserFactory()
    address = personal.tracker_address_of(personal.tracker_for(alice))
    alice.is_active = False
    alice.save()
    assert "deactivated" in personal.find_tracker(address).refusal


def test_a_tracker_follows_a_changed_ingress_domain(settings):
    alice = UserFactory()
    personal.tracker_for(alice)
    settings.POSTROOM = {**settings.POSTROOM, "INGRESS_DOMAIN": "mail.acme.test"}
    tracker = personal.tracker_for(alice)
    assert tracker.mailbox.address.endswith("@mail.acme.test")
    assert personal.find_tracker(tracker.mailbox.address).mailbox_id == tracker.mailbox_id


def test_a_tracker_takes_mail_from_its_users_own_addresses_only():
    alice = UserFactory(email="alice@acme.test")
    own = MailboxFactory(kind=Mailbox.Kind.PERSONAL, owner=alice, address="alice@gmail.test")
    MailboxFactory(kind=Mailbox.Kind.PERSONAL, owner=UserFactory(), address="bob@gmail.test")
    shared = MailboxFactory(address="sales@acme.test")
    tracker = personal.tracker_for(alice)
    assert personal.tracker_senders(tracker.mailbox_id) == {"alice@acme.test", own.address}
    from postroom.mailboxes.actions import do_grant_mailbox

    do_grant_mailbox(shared, alice, level=2)  # reply: she may send as sales@
    assert shared.address in personal.tracker_senders(tracker.mailbox_id)
