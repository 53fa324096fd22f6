"""`postroom mailbox add` logs in before it saves, against a real Dovecot; `update` and
`grant` change a mailbox afterwards."""

import pytest
from django.core.management import CommandError, call_command

from postroom.mailboxes.access import mailboxes_for
from postroom.mailboxes.models import Mailbox, MailboxGrant
from postroom.testing.dovecot import free_port
from postroom.testing.factories import DepartmentFactory, MailboxFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def add_args(dovecot, mail_user, monkeypatch):
    monkeypatch.setenv("MAILBOX_PASSWORD", mail_user.password)
    return [
        "mailbox", "add", mail_user.address, "--name", "Sales",
        "--imap-host", dovecot.host, "--imap-port", str(dovecot.imap_port),
        "--imap-security", "none", "--username", mail_user.username,
        "--password-env", "MAILBOX_PASSWORD",
    ]  # fmt: skip


def test_it_adds_a_mailbox_after_logging_in(add_args, mail_user, capsys):
    call_command(*add_args, "--crm-rule", "smart:Support Request")
    mailbox = Mailbox.objects.get()
    assert mailbox.crm_rule_label == "smart:support-request"  # the type's slug
    assert mailbox.get_password() == mail_user.password
    assert mail_user.password not in mailbox.password_encrypted
    assert "login verified" in capsys.readouterr().out


def test_it_refuses_a_smart_rule_naming_no_smart_type(add_args):
    with pytest.raises(CommandError, match="no smart type 'Complaints'"):
        call_command(*add_args, "--crm-rule", "smart:Complaints")
    assert not Mailbox.objects.exists()


def test_it_saves_nothing_on_a_wrong_password(add_args, monkeypatch):
    monkeypatch.setenv("MAILBOX_PASSWORD", "not-the-password")
    with pytest.raises(CommandError, match="not saved: .*refused the login") as error:
        call_command(*add_args)
    assert "not-the-password" not in str(error.value)
    assert not Mailbox.objects.exists()


def test_it_saves_nothing_when_the_host_is_unreachable(add_args):
    add_args[add_args.index("--imap-port") + 1] = str(free_port())
    with pytest.raises(CommandError, match="cannot connect"):
        call_command(*add_args)
    assert not Mailbox.objects.exists()


def test_it_saves_nothing_when_tls_fails(add_args):
    # Dovecot listens in plain text here: a TLS handshake with it must fail, loudly.
    add_args[add_args.index("--imap-security") + 1] = "ssl"
    with pytest.raises(CommandError, match="TLS"):
        call_command(*add_args)
    assert not Mailbox.objects.exists()


def test_it_refuses_an_unset_password_variable(add_args, monkeypatch):
    monkeypatch.delenv("MAILBOX_PASSWORD")
    with pytest.raises(CommandError, match="MAILBOX_PASSWORD is empty or unset"):
        call_command(*add_args)


def test_it_lists_mailboxes(add_args, mail_user, capsys):
    call_command(*add_args)
    call_command("mailbox", "list")
    assert mail_user.address in capsys.readouterr().out


def test_it_adds_a_mailbox_fed_by_the_ingress_alone(capsys):
    call_command("mailbox", "add", "info@acme.test", "--name", "Info", "--ingress-only")
    mailbox = Mailbox.objects.get()
    assert not mailbox.has_imap and not mailbox.folders.exists()
    assert "fed by SMTP to 127.0.0.1:2525" in capsys.readouterr().out
    call_command("sync", "info@acme.test", "--once", "--no-jobs")
    assert "no IMAP server, fed by the ingress only" in capsys.readouterr().out


def test_it_asks_for_the_imap_settings_unless_ingress_only():
    with pytest.raises(CommandError, match="missing --imap-host, --imap-port"):
        call_command("mailbox", "add", "info@acme.test", "--name", "Info")


def test_it_sets_the_mailbox_poll_interval(add_args):
    call_command(*add_args, "--poll-interval", "300")
    assert Mailbox.objects.get().poll_interval == 300


def test_update_saves_a_new_password_only_after_the_server_accepts_it(
    add_args, mail_user, monkeypatch, capsys
):
    call_command(*add_args)
    mailbox = Mailbox.objects.get()
    monkeypatch.setenv("NEW_PASSWORD", "not-the-password")
    with pytest.raises(CommandError, match="password not saved: .*refused the login"):
        call_command("mailbox", "update", mail_user.address, "--password-env", "NEW_PASSWORD")
    mailbox.refresh_from_db()
    assert mailbox.get_password() == mail_user.password
    # The right one (say, after it was changed on the server) is saved.
    Mailbox.objects.filter(pk=mailbox.pk).update(status=Mailbox.Status.AUTH_FAILED)
    monkeypatch.setenv("NEW_PASSWORD", mail_user.password)
    call_command("mailbox", "update", mail_user.address, "--password-env", "NEW_PASSWORD")
    mailbox.refresh_from_db()
    assert mailbox.status != Mailbox.Status.AUTH_FAILED
    assert "new password saved" in capsys.readouterr().out


def test_grant_gives_a_user_and_a_department_access_and_revoke_takes_it(capsys):
    sales = MailboxFactory(address="sales@acme.test")
    alice, sam = UserFactory(username="alice"), UserFactory(username="sam")
    DepartmentFactory(name="Support", members=[sam])

    call_command("mailbox", "grant", "sales@acme.test", "--user", "alice", "--level", "reply")
    call_command("mailbox", "grant", "SALES@acme.test", "--department", "support")
    assert list(mailboxes_for(alice, MailboxGrant.Level.REPLY)) == [sales]
    assert list(mailboxes_for(sam)) == [sales]
    assert "reply access for alice" in capsys.readouterr().out

    call_command("mailbox", "grant", "sales@acme.test", "--user", "alice", "--revoke")
    assert not mailboxes_for(alice).exists()


@pytest.mark.parametrize(
    "args, error",
    [
        (["nobody@acme.test", "--user", "alice"], "no mailbox"),
        (["sales@acme.test", "--user", "ghost"], "no user 'ghost'"),
        (["sales@acme.test", "--department", "Nowhere"], "no department"),
        (["sales@acme.test", "--user", "alice", "--revoke"], "has no access"),
    ],
)
def test_grant_names_what_is_wrong(args, error):
    MailboxFactory(address="sales@acme.test")
    UserFactory(username="alice")
    with pytest.raises(CommandError, match=error):
        call_command("mailbox", "grant", *args)


def test_folders_corrects_a_role_and_names_what_is_wrong(capsys):
    sales = MailboxFactory(address="sales@acme.test")
    sales.folders.create(name="Junk Mail", role="other", is_synced=False)

    call_command("mailbox", "folders", "sales@acme.test", "--role", "Junk Mail=spam")

    assert sales.folders.get(name="Junk Mail").role == "spam"
    assert "Junk Mail" in capsys.readouterr().out
    for bad, error in [("Junk Mail", "FOLDER=ROLE"), ("Junk Mail=rubbish", "unknown folder role")]:
        with pytest.raises(CommandError, match=error):
            call_command("mailbox", "folders", "sales@acme.test", "--role", bad)
