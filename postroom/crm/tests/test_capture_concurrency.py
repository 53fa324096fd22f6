"""Two captures of one new sender at once, in two job runners: one lead, not two."""

import sys
import threading

import pytest
from django.db import connection, transaction

from postroom.crm.capture import capture_messages
from postroom.crm.models import Activity, Lead
from postroom.testing.factories import MailboxFactory
from postroom.testing.mail import make_email
from postroom.testing.processes import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def _waits_for_a_lock(thread: threading.Thread) -> bool:
    """`thread` is blocked on a lock the test's transaction holds: on PostgreSQL a lock
    not granted; on SQLite, its BEGIN IMMEDIATE waiting for the one write lock."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_locks WHERE NOT granted")
            return cursor.fetchone()[0] > 0
    frame = sys._current_frames().get(thread.ident)
    while frame is not None:
        if frame.f_code.co_name == "_start_transaction_under_autocommit":
            return True
        frame = frame.f_back
    return False


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
        # The second runner either finishes (no lock: a lead of its own, the bug) or is
        # seen waiting for the first's lock; the first commits only then.
        wait_for(lambda: second_done.is_set() or _waits_for_a_lock(other), 30, "runner two")
        assert not second_done.is_set(), "the second capture did not wait for the first"
    other.join(30)
    assert not errors
    lead = Lead.objects.get()
    assert lead.email == "nina@new.test"
    assert Activity.objects.filter(entries__object_id=lead.pk).count() == 2
