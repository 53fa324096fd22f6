"""One email to two mailboxes gets one CRM outcome, whatever order their captures run in:
the rule of the mailbox first in CRM precedence decides, and the email says whose."""

import threading

import pytest
from django.db import connection

from postroom.crm import actions
from postroom.crm.capture import capture_messages
from postroom.crm.models import Activity, Contact, Deal, Lead, TimelineEntry
from postroom.mailboxes.models import Mailbox
from postroom.testing.factories import MailboxFactory, UserFactory
from postroom.testing.mail import make_email

pytestmark = pytest.mark.django_db(transaction=True)

SENDER = "Nina <nina@new.test>"
TO = "sales@acme.test, support@acme.test"


@pytest.fixture
def sales_and_support():
    """sales@ makes leads, support@ a contact and a deal; support@ comes first."""
    sales = MailboxFactory(address="sales@acme.test", crm_rule="lead", crm_precedence=20)
    support = MailboxFactory(
        address="support@acme.test", crm_rule="contact-deal", crm_precedence=10
    )
    return sales, support


def _email(arrive, *mailboxes):
    raw = make_email(sender=SENDER, to=TO, message_id="<one@new.test>")
    return [arrive(mailbox, raw) for mailbox in mailboxes][0]


def _outcome() -> tuple[int, int, int, str]:
    """(leads, contacts, deals, address of the mailbox whose rule applied)."""
    activity = Activity.objects.select_related("rule_mailbox").get()
    rule = activity.rule_mailbox.address if activity.rule_mailbox else ""
    return Lead.objects.count(), Contact.objects.count(), Deal.objects.count(), rule


@pytest.mark.parametrize("order", ["sales first", "support first"])
def test_both_copies_held_give_the_first_mailboxs_outcome_in_either_order(
    arrive, sales_and_support, order
):
    sales, support = sales_and_support
    message = _email(arrive, sales, support)
    runs = [sales, support] if order == "sales first" else [support, sales]

    results = [capture_messages([message], mailbox)[message.pk] for mailbox in runs]

    assert _outcome() == (0, 1, 1, "support@acme.test")
    skipped = results[0].skipped if order == "sales first" else results[1].skipped
    assert skipped == "decided by the CRM rule of support@acme.test, first in precedence"


def test_a_later_copy_of_the_first_mailbox_replaces_what_the_other_rule_made(
    arrive, sales_and_support
):
    sales, support = sales_and_support
    message = _email(arrive, sales)
    capture_messages([message], sales)
    assert _outcome() == (1, 0, 0, "sales@acme.test")

    _email(arrive, support)  # support@'s sync brings its copy minutes later
    capture_messages([message], support)

    assert _outcome() == (0, 1, 1, "support@acme.test")
    assert not TimelineEntry.objects.filter(content_type__model="lead").exists()
    capture_messages([message], sales)  # sales@'s capture again: nothing changes
    assert _outcome() == (0, 1, 1, "support@acme.test")


def test_what_someone_worked_on_is_kept_when_the_first_mailboxs_copy_comes_late(
    arrive, sales_and_support
):
    sales, support = sales_and_support
    message = _email(arrive, sales)
    capture_messages([message], sales)
    lead = Lead.objects.get()
    actions.do_add_comment(lead, "Called her back", user=UserFactory(is_superuser=True))

    _email(arrive, support)
    capture_messages([message], support)

    assert Lead.objects.filter(pk=lead.pk).exists()
    assert Deal.objects.count() == 0
    assert lead in actions.items_of(Activity.objects.get())


def test_shared_comes_before_personal_by_default(arrive):
    owner = UserFactory()
    personal = MailboxFactory(
        address="bob@home.test", kind=Mailbox.Kind.PERSONAL, owner=owner, crm_rule="lead"
    )
    shared = MailboxFactory(address="support@acme.test", crm_rule="contact-deal")
    message = _email(arrive, personal, shared)

    capture_messages([message], personal)
    capture_messages([message], shared)

    assert _outcome() == (0, 1, 1, "support@acme.test")


def test_a_mailbox_whose_rule_is_none_does_not_take_precedence(arrive):
    info = MailboxFactory(address="info@acme.test", crm_rule="none", crm_precedence=1)
    sales = MailboxFactory(address="sales@acme.test", crm_rule="lead", crm_precedence=50)
    message = _email(arrive, info, sales)

    capture_messages([message], info)
    capture_messages([message], sales)

    assert _outcome() == (1, 0, 0, "sales@acme.test")


def test_two_runners_capturing_both_copies_at_once_agree(arrive, sales_and_support):
    """Two job runners, each capturing one mailbox's copy at the same moment."""
    sales, support = sales_and_support
    for round_ in range(3):
        raw = make_email(sender=f"n{round_}@new{round_}.test", to=TO, message_id=f"<{round_}@x>")
        message = arrive(sales, raw)
        arrive(support, raw)
        start = threading.Barrier(2)
        errors: list[BaseException] = []

        def runner(mailbox: Mailbox, message=message, start=start, errors=errors) -> None:
            try:
                start.wait(10)
                capture_messages([message], mailbox)
            except BaseException as error:
                errors.append(error)
            finally:
                connection.close()

        threads = [threading.Thread(target=runner, args=(m,)) for m in (sales, support)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert not errors
        activity = Activity.objects.select_related("rule_mailbox").get(message=message)
        assert activity.rule_mailbox == support
        assert not Lead.objects.filter(email=f"n{round_}@new{round_}.test").exists()
        assert (
            Deal.objects.filter(contact__emails__email=f"n{round_}@new{round_}.test").count() == 1
        )
