"""One email to sales@ (rule: lead) and support@ (rule: contact and deal) through the real
SMTP ingress and the job pipeline: one CRM outcome, support@'s (first in precedence),
whether the two deliveries come together or one after the other in either order."""

from collections.abc import Iterator

import pytest

from postroom import jobs
from postroom.crm.models import Activity, Contact, Deal, Lead
from postroom.sync.ingress import Ingress
from postroom.testing.factories import MailboxFactory
from postroom.testing.mail import make_email

pytestmark = pytest.mark.django_db(transaction=True)

SENDER = "nina@new.test"


@pytest.fixture
def ingress() -> Iterator[Ingress]:
    with Ingress(
        smtp_bind="127.0.0.1:0", lmtp_bind="127.0.0.1:0", max_message_size=1_000_000
    ) as server:
        yield server


@pytest.fixture
def mailboxes():
    sales = MailboxFactory(address="sales@acme.test", crm_rule="lead", crm_precedence=20)
    support = MailboxFactory(
        address="support@acme.test", crm_rule="contact-deal", crm_precedence=10
    )
    return {"sales": sales, "support": support}


def _deliver(ingress: Ingress, raw: bytes, *recipients: str) -> None:
    import smtplib

    with smtplib.SMTP(*ingress.binds["smtp"], timeout=10) as client:
        assert client.sendmail(SENDER, list(recipients), raw) == {}
    jobs.drain_embedded_queue()


def _outcome() -> tuple[int, int, int, str]:
    activity = Activity.objects.select_related("rule_mailbox").get()
    return (
        Lead.objects.filter(email=SENDER).count(),
        Contact.objects.filter(emails__email=SENDER).count(),
        Deal.objects.count(),
        activity.rule_mailbox.address,
    )


def test_one_delivery_to_both_mailboxes(ingress, mailboxes):
    raw = make_email(sender=f"Nina <{SENDER}>", to="sales@acme.test, support@acme.test")
    _deliver(ingress, raw, "sales@acme.test", "support@acme.test")
    assert _outcome() == (0, 1, 1, "support@acme.test")


@pytest.mark.parametrize("first", ["sales", "support"])
def test_two_deliveries_in_either_order(ingress, mailboxes, first):
    raw = make_email(sender=f"Nina <{SENDER}>", to="sales@acme.test, support@acme.test")
    second = "support" if first == "sales" else "sales"

    _deliver(ingress, raw, mailboxes[first].address)
    _deliver(ingress, raw, mailboxes[second].address)

    assert _outcome() == (0, 1, 1, "support@acme.test")
