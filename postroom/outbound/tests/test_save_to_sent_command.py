"""`postroom mailbox add ... --no-save-to-sent` and `postroom mailbox update ADDRESS
--[no-]save-to-sent`: the switch for providers that file sent mail themselves."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from postroom.outbound.models import OutboundSettings

pytestmark = pytest.mark.django_db


def _run(*args) -> str:
    out = StringIO()
    call_command("mailbox", *args, stdout=out)
    return out.getvalue()


def test_a_mailbox_can_be_added_without_saving_to_sent():
    out = _run("add", "info@acme.test", "--name", "Info", "--ingress-only", "--no-save-to-sent")
    assert "sent mail is not appended to its Sent folder" in out
    assert OutboundSettings.objects.get(mailbox__address="info@acme.test").save_to_sent is False


def test_update_switches_saving_to_sent_off_and_on(mailbox):
    assert OutboundSettings.of(mailbox).save_to_sent is True  # the default
    assert "left to the provider" in _run("update", mailbox.address, "--no-save-to-sent")
    assert OutboundSettings.of(mailbox).save_to_sent is False
    assert "appended to its Sent folder" in _run("update", "SALES@acme.test", "--save-to-sent")
    assert OutboundSettings.of(mailbox).save_to_sent is True


def test_update_says_what_is_wrong():
    with pytest.raises(CommandError, match="no mailbox nobody@acme.test"):
        _run("update", "nobody@acme.test", "--save-to-sent")


def test_update_without_a_change_is_an_error(mailbox):
    with pytest.raises(CommandError, match="nothing to change"):
        _run("update", mailbox.address)
