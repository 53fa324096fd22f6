"""`postroom mail reprocess`: quarantined messages parsed again after a fix."""

import pytest
from django.core.management import CommandError, call_command

from postroom.crm.models import Lead
from postroom.mail import ingest
from postroom.mail.ingest import FetchedMessage, parse_stored, store_copy
from postroom.mail.models import Message
from postroom.testing.factories import MailboxFactory
from postroom.testing.mail import make_email

pytestmark = pytest.mark.django_db


@pytest.fixture
def quarantined(monkeypatch):
    folder = MailboxFactory().folders.get()
    original = ingest.parse_message
    monkeypatch.setattr(ingest, "parse_message", lambda raw: 1 / 0)
    messages = [
        parse_stored(store_copy(folder, 1, FetchedMessage(uid, make_email())).message)
        for uid in (1, 2)
    ]
    monkeypatch.setattr(ingest, "parse_message", original)
    return messages


def test_it_reprocesses_the_named_messages(quarantined, capsys):
    first, second = quarantined
    call_command("mail", "reprocess", str(first.pk), "--no-jobs")
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, second.status) == (Message.Status.PARSED, Message.Status.QUARANTINED)
    assert "1 parsed, 0 still quarantined" in capsys.readouterr().out


@pytest.mark.django_db(transaction=True)  # the embedded job runner commits its own work
def test_it_reprocesses_all_and_runs_the_rest_of_the_path(quarantined, capsys):
    call_command("mail", "reprocess", "--all")
    assert set(Message.objects.values_list("status", flat=True)) == {Message.Status.PARSED}
    assert "2 parsed, 0 still quarantined" in capsys.readouterr().out
    # The ingest job ran: the messages reached the CRM (the mailbox's rule is "lead").
    assert Lead.objects.count() == 1


def test_it_refuses_ids_that_are_not_quarantined(quarantined):
    with pytest.raises(CommandError, match="not quarantined or not found: 999"):
        call_command("mail", "reprocess", "999")


def test_it_needs_ids_or_all():
    with pytest.raises(CommandError, match="--all"):
        call_command("mail", "reprocess")
