"""postroom autoreply set|show: the same service as the mailbox's auto-reply page."""

import pytest
from django.core.management import CommandError, call_command

from postroom.routing.autoreply_models import AutoReply
from postroom.testing.factories import MailboxFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def mailbox():
    return MailboxFactory(address="sales@acme.test", smtp_host="127.0.0.1", smtp_port=25,
                          smtp_security="none")  # fmt: skip


def test_it_turns_the_auto_reply_on_and_shows_it(mailbox, capsys):
    call_command("autoreply", "set", "sales@acme.test", "--when", "always", "--body", "Thanks!")
    assert AutoReply.objects.get(mailbox=mailbox).body == "Thanks!"
    assert "Always, at most once per sender in 4 day(s)" in capsys.readouterr().out


def test_it_refuses_a_broken_template_with_the_reason(mailbox):
    with pytest.raises(CommandError, match=r"unknown placeholder \{nick\}"):
        call_command("autoreply", "set", "sales@acme.test", "--when", "always", "--body", "{nick}")
    assert not AutoReply.objects.exists()


def test_it_needs_a_calendar_for_out_of_hours(mailbox):
    with pytest.raises(CommandError, match="calendar"):
        call_command("autoreply", "set", "sales@acme.test", "--when", "outside_hours",
                     "--body", "Hi")  # fmt: skip
