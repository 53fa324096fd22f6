"""Two captures of one new sender at once, in two job runners: one lead, not two."""

import threading

import pytest
from django.db import connection, transaction

from postroom.crm.capture import capture_messages
from postroom.crm.models import Activity, Lead
from postroom.testing.factories import MailboxFactory
from postroom.testing.mail import make_email

pytestmark = pytest.mark.django_db(transaction=True)


def test_two_mailboxes_capturing_one_new_sender_at_once_create_one_lead(arrive):
    sales = MailboxFactory(address="sales@acme.test", crm_rule="lead")
    info = MailboxFactory(address="info@acme.test", crm_rule="lead")
    first = arrive(sales, make_email(sender="Nina <nina@new.test>", to="sales@acme.test"))
    second = arrive(
        info, make_email(sender="Nina <nina@new.test>", to="info@acme.test", subject="Also")
    )
    first_captured, second_done = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def runner_two() -> None:
        try:
            first_captured.wait(10)
            capture_messages([second], info)  # must wait for the first runner's commit
        except BaseException as error:
            errors.append(error)
        finally:
            second_done.set()
            connection.close()

    other = threading.Thread(target=runner_two)
    other.start()
    with transaction.atomic():  # the first runner, its capture not committed yet
        capture_messages([first], sales)
        first_captured.set()
        # Had the second runner not waited, it would have finished by now, with a lead
        # of its own.
        assert not second_done.wait(1.5)
    other.join(30)
    assert not errors
    lead = Lead.objects.get()
    assert lead.email == "nina@new.test"
    assert Activity.objects.filter(entries__object_id=lead.pk).count() == 2
