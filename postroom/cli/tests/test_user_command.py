import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from postroom.retention.models import RetentionRun
from postroom.retention.tests.helpers import arrive
from postroom.testing.factories import MailboxFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_it_creates_an_admin_with_a_password_from_the_environment(monkeypatch, capsys):
    monkeypatch.setenv("NEW_PASSWORD", "s3cret-enough-Pass")
    call_command(
        "user",
        "add",
        "alice",
        "--email",
        "alice@acme.test",
        "--admin",
        "--password-env",
        "NEW_PASSWORD",
    )
    user = get_user_model().objects.get(username="alice")
    assert user.is_superuser and user.check_password("s3cret-enough-Pass")
    assert "s3cret" not in capsys.readouterr().out


def test_it_generates_and_shows_a_password_once(capsys):
    call_command("user", "add", "bob", "--email", "bob@acme.test")
    out = capsys.readouterr().out
    password = out.split("password (shown once): ")[1].strip()
    bob = get_user_model().objects.get(username="bob")
    assert bob.check_password(password)
    assert out.count(password) == 1  # once in this output...
    assert password not in bob.password  # ...kept only as a hash, so never shown again
    call_command("user", "add", "carol", "--email", "carol@acme.test")
    assert password not in capsys.readouterr().out


def test_it_refuses_a_taken_username():
    call_command("user", "add", "bob", "--email", "bob@acme.test")
    with pytest.raises(CommandError, match="already exists"):
        call_command("user", "add", "bob", "--email", "other@acme.test")


def test_deactivating_someone_with_a_personal_mailbox_asks_about_its_mail_first(capsys):
    person = UserFactory(username="pat")
    mailbox = MailboxFactory(kind="personal", owner=person, address="pat@acme.test")
    arrive(mailbox, "private", days_ago=1)
    with pytest.raises(CommandError, match=r"(?s)pat@acme.test: 1 unlinked email.*--mail keep"):
        call_command("user", "deactivate", "pat")
    person.refresh_from_db()
    assert person.is_active
    call_command("user", "deactivate", "pat", "--mail", "keep")
    person.refresh_from_db()
    assert not person.is_active
    assert "their unlinked mail is kept" in capsys.readouterr().out
    run = RetentionRun.objects.get(mailbox=mailbox)
    assert run.trigger == RetentionRun.Trigger.DEACTIVATED and "keep" in run.note


def test_deactivating_someone_without_a_personal_mailbox_needs_no_choice(capsys):
    UserFactory(username="sam")
    call_command("user", "deactivate", "sam")
    assert not get_user_model().objects.get(username="sam").is_active
    assert capsys.readouterr().out.strip() == "sam deactivated"
