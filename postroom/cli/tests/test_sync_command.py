import pytest
from django.core.management import CommandError, call_command

from postroom.crm.models import Lead
from postroom.mail.models import Message

# Transactional: `sync --once` runs the job worker, which manages its own connections.
pytestmark = pytest.mark.django_db(transaction=True)


def test_it_fetches_parses_and_captures_then_exits(dovecot, mail_user, dovecot_mailbox, capsys):
    from postroom.testing.mail import make_email

    dovecot.deliver(make_email(sender="new@prospect.test"), to=mail_user.address)
    call_command("sync", mail_user.address, "--once")
    assert "1 fetched, 1 new" in capsys.readouterr().out
    assert Message.objects.get().status == Message.Status.PARSED
    assert Lead.objects.filter(email="new@prospect.test").exists()


def test_it_exits_non_zero_with_the_reason_on_a_wrong_password(dovecot_mailbox, capsys):
    dovecot_mailbox.set_password("wrong")
    dovecot_mailbox.save()
    with pytest.raises(CommandError, match="1 mailbox"):
        call_command("sync", dovecot_mailbox.address, "--once")
    assert "refused the login" in capsys.readouterr().err


def test_it_names_an_unknown_mailbox():
    with pytest.raises(CommandError, match="no mailbox nobody@acme.test"):
        call_command("sync", "nobody@acme.test", "--once")


def test_it_reports_quarantined_mail_and_keeps_going(dovecot, mail_user, dovecot_mailbox, capsys):
    from postroom.testing.mail import make_email

    dovecot.append(mail_user.username, mail_user.password, b"\x00\x01 not an email \xff")
    dovecot.deliver(make_email(sender="fine@prospect.test"), to=mail_user.address)
    call_command("sync", mail_user.address, "--once")
    assert "1 message(s) could not be parsed" in capsys.readouterr().err
    assert Message.objects.filter(status=Message.Status.QUARANTINED).count() == 1
    assert Lead.objects.filter(email="fine@prospect.test").exists()
