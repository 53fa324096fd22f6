"""An administrator connects a shared mailbox in the browser's form, against the real
Dovecot: a job logs in off the request thread while the page polls it; Postroom saves
only when the server accepted the login, reads the folders, and the mailbox syncs;
anything wrong saves nothing and says so in one sentence of ours, never the server's."""

import logging
from datetime import timedelta

import pytest
from django.urls import reverse
from django_tasks_db.models import DBTaskResult

from postroom.mail.models import Message
from postroom.mailboxes.models import ConnectionCheck, Mailbox
from postroom.sync.service import sync_mailbox
from postroom.testing.connecting import connect_through, listening, run_jobs
from postroom.testing.dovecot import free_port
from postroom.testing.factories import SmartTypeFactory, UserFactory
from postroom.testing.mail import make_email
from postroom.testing.web import logged_in

pytestmark = pytest.mark.django_db

URL = reverse("web:connect_shared_mailbox")


@pytest.fixture
def admin():
    return UserFactory(username="boss", is_superuser=True)


def _form(dovecot, mail_user, **changes) -> dict:
    form = {
        "address": mail_user.address,
        "name": "Support",
        "imap_host": dovecot.host if dovecot else "",
        "imap_port": dovecot.imap_port if dovecot else "",
        "imap_security": "none",
        "username": mail_user.username,
        "password": mail_user.password,
        "crm_rule": "lead",
        "initial_days": "90",
    }
    form.update(changes)
    return {key: value for key, value in form.items() if value is not None}


def test_a_connected_mailbox_reads_its_folders_and_syncs(dovecot, mail_user, admin, caplog):
    SmartTypeFactory(name="Support Request", slug="support-request")
    dovecot.deliver(make_email(subject="Already waiting"), to=mail_user.address)

    with caplog.at_level(logging.DEBUG):
        response, check = connect_through(
            logged_in(admin), URL, _form(dovecot, mail_user, crm_rule="smart:support-request")
        )

    mailbox = Mailbox.objects.get(address=mail_user.address)
    assert check.status == ConnectionCheck.Status.CONNECTED and check.mailbox == mailbox
    assert check.password_encrypted == "", "the check keeps no password once over"
    assert response.status_code == 302
    assert response["Location"] == reverse("web:mailbox_access", args=[mailbox.pk])
    assert mailbox.kind == Mailbox.Kind.SHARED and mailbox.name == "Support"
    assert (mailbox.crm_rule, mailbox.crm_smart_type) == ("smart", "support-request")
    assert mailbox.initial_days == 90
    assert mailbox.get_password() == mail_user.password
    assert mail_user.password not in mailbox.password_encrypted
    assert mail_user.password not in caplog.text, "the password is never logged"
    assert {"INBOX", "Sent"} <= set(
        mailbox.folders.filter(is_synced=True).values_list("name", flat=True)
    )
    assert sync_mailbox(mailbox).new == 1
    assert Message.objects.filter(copies__mailbox=mailbox).count() == 1


def test_the_form_returns_before_anything_talks_to_the_server(mail_user, admin):
    """GIVEN a server that accepts connections and never answers WHEN the form is posted
    THEN the page answers at once, the request thread having opened no connection: the
    job does, and the password is in neither the job's arguments nor the check in clear."""
    with listening() as silent:
        response = logged_in(admin).post(
            URL,
            _form(None, mail_user, imap_host="127.0.0.1", imap_port=silent.port),
        )
        check = ConnectionCheck.objects.get()
        assert response["Location"] == reverse("web:connection_check", args=[check.pk])
        assert silent.accepted == 0
    assert check.status == ConnectionCheck.Status.CHECKING
    assert check.get_password() == mail_user.password
    assert mail_user.password not in check.password_encrypted
    assert mail_user.password not in str(check.connection) + str(check.options)
    job = DBTaskResult.objects.get()
    assert job.args_kwargs == {"args": [check.pk], "kwargs": {}}
    assert not Mailbox.objects.exists()


def test_the_check_page_shows_progress_and_its_status_says_checking(dovecot, mail_user, admin):
    client = logged_in(admin)
    client.post(URL, _form(dovecot, mail_user))
    check = ConnectionCheck.objects.get()

    page = client.get(reverse("web:connection_check", args=[check.pk])).content.decode()
    status = client.get(reverse("web:connection_check_status", args=[check.pk])).json()

    assert f"Logging in to {dovecot.host}:{dovecot.imap_port}" in page
    assert status == {"status": "checking", "outcome": ""}


def test_someone_else_s_check_is_not_there(dovecot, mail_user, admin):
    logged_in(admin).post(URL, _form(dovecot, mail_user))
    check = ConnectionCheck.objects.get()
    other = logged_in(UserFactory(is_superuser=True))

    for name in ("web:connection_check", "web:connection_check_status"):
        assert other.get(reverse(name, args=[check.pk])).status_code == 404


def test_a_wrong_password_saves_nothing_and_says_the_server_refused(dovecot, mail_user, admin):
    response, check = connect_through(
        logged_in(admin), URL, _form(dovecot, mail_user, password="wrong")
    )

    page = response.content.decode()
    assert response.status_code == 200
    assert "Not connected" in page and "The server refused the login" in page
    assert "AUTHENTICATIONFAILED" not in page, "nothing of the server's own words"
    assert 'value="wrong"' not in page, "a password is never echoed back"
    assert check.failure == ConnectionCheck.Failure.REFUSED and not check.password_encrypted
    assert not Mailbox.objects.exists()


def test_a_closed_port_says_it_could_not_connect(dovecot, mail_user, admin):
    closed = free_port()

    response, check = connect_through(
        logged_in(admin), URL, _form(dovecot, mail_user, imap_port=closed)
    )

    page = response.content.decode()
    assert "Could not connect to the server" in page
    assert str(closed) not in check.outcome
    assert check.failure == ConnectionCheck.Failure.UNREACHABLE
    assert not Mailbox.objects.exists()


@pytest.mark.parametrize(
    "greeting",
    [
        b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n",
        b"220 mail.internal.test ESMTP Postfix (secret build 7)\r\n",
        b"HTTP/1.1 400 Bad Request\r\nServer: internal-admin/1.0\r\n\r\n",
    ],
)
def test_a_service_that_is_not_imap_is_named_as_such_without_its_words(mail_user, admin, greeting):
    with listening(greeting) as service:
        response, check = connect_through(
            logged_in(admin),
            URL,
            _form(None, mail_user, imap_host="127.0.0.1", imap_port=service.port),
        )

    page = response.content.decode()
    assert "did not answer as an IMAP server" in page
    assert check.failure == ConnectionCheck.Failure.NOT_IMAP
    for word in (b"SSH-2.0", b"OpenSSH", b"ESMTP", b"Postfix", b"secret", b"internal"):
        assert word.decode() not in page and word.decode() not in check.outcome
    assert not Mailbox.objects.exists()


def test_no_silent_downgrade_when_the_server_offers_no_starttls(dovecot, mail_user, admin):
    response, check = connect_through(
        logged_in(admin), URL, _form(dovecot, mail_user, imap_security="starttls")
    )

    assert "TLS with the server failed" in response.content.decode()
    assert check.failure == ConnectionCheck.Failure.TLS
    assert not Mailbox.objects.exists()


def test_a_failed_check_offers_the_form_again_with_its_settings(dovecot, mail_user, admin):
    client = logged_in(admin)
    response, check = connect_through(client, URL, _form(dovecot, mail_user, password="wrong"))
    again = f"{URL}?again={check.pk}"
    assert f'href="{again}"' in response.content.decode()

    form = client.get(again).context["form"]

    assert form.initial["imap_port"] == dovecot.imap_port
    assert form.initial["username"] == mail_user.username
    assert "password" not in form.initial


def test_a_check_that_never_ran_is_given_up_and_its_password_wiped(dovecot, mail_user, admin):
    client = logged_in(admin)
    client.post(URL, _form(dovecot, mail_user))
    check = ConnectionCheck.objects.get()
    ConnectionCheck.objects.filter(pk=check.pk).update(
        created_at=check.created_at - timedelta(hours=1)
    )

    status = client.get(reverse("web:connection_check_status", args=[check.pk])).json()
    run_jobs()  # the job, late, finds it over

    check.refresh_from_db()
    assert status["status"] == "failed" and "did not run in time" in status["outcome"]
    assert check.password_encrypted == "" and not Mailbox.objects.exists()


def test_one_check_at_a_time_per_user(dovecot, mail_user, other_mail_user, admin):
    client = logged_in(admin)
    client.post(URL, _form(dovecot, mail_user))

    response = client.post(URL, _form(dovecot, other_mail_user))

    assert "being checked still" in response.content.decode()
    assert ConnectionCheck.objects.count() == 1
    run_jobs()
    response, check = connect_through(client, URL, _form(dovecot, other_mail_user))
    assert check.mailbox.address == other_mail_user.address


def test_a_new_check_wipes_the_password_of_any_that_never_ran(dovecot, mail_user, admin):
    logged_in(admin).post(URL, _form(dovecot, mail_user))
    forgotten = ConnectionCheck.objects.get()
    ConnectionCheck.objects.update(created_at=forgotten.created_at - timedelta(hours=1))

    logged_in(UserFactory(is_superuser=True)).post(
        URL, _form(dovecot, mail_user, address="b@x.test")
    )

    forgotten.refresh_from_db()
    assert forgotten.status == ConnectionCheck.Status.FAILED
    assert forgotten.password_encrypted == ""


def test_a_check_over_for_a_day_is_deleted_by_the_next(dovecot, mail_user, admin):
    client = logged_in(admin)
    connect_through(client, URL, _form(dovecot, mail_user, password="wrong"))
    old = ConnectionCheck.objects.get()
    ConnectionCheck.objects.update(finished_at=old.finished_at - timedelta(days=2))

    client.post(URL, _form(dovecot, mail_user))

    assert not ConnectionCheck.objects.filter(pk=old.pk).exists()
    assert ConnectionCheck.objects.count() == 1


@pytest.mark.parametrize(
    ("allowed", "refused"),
    [
        ({"IMAP_ALLOWED_PORTS": [993]}, "only on these ports: 993"),
        (
            {"IMAP_ALLOWED_HOSTS": ["imap.acme.test", "*.mail.acme.test"]},
            "its administrator allows",
        ),
    ],
)
def test_only_the_servers_the_administrator_allows_are_tried(
    dovecot, mail_user, admin, settings, allowed, refused
):
    settings.POSTROOM = {**settings.POSTROOM, **allowed}

    response = logged_in(admin).post(URL, _form(dovecot, mail_user))

    assert response.status_code == 200 and refused in response.content.decode()
    assert not ConnectionCheck.objects.exists() and not Mailbox.objects.exists()


def test_a_check_queued_before_the_lists_changed_is_refused_by_the_job(
    dovecot, mail_user, admin, settings
):
    client = logged_in(admin)
    client.post(URL, _form(dovecot, mail_user))
    settings.POSTROOM = {**settings.POSTROOM, "IMAP_ALLOWED_HOSTS": ["imap.acme.test"]}

    run_jobs()

    check = ConnectionCheck.objects.get()
    assert check.status == ConnectionCheck.Status.FAILED
    assert "its administrator allows" in check.outcome and not Mailbox.objects.exists()


def test_a_mailbox_fed_by_the_ingress_needs_no_imap_server(admin):
    response = logged_in(admin).post(
        URL,
        {"address": "info@acme.test", "ingress_only": "on", "crm_rule": "lead", "initial_days": 30},
    )

    assert response.status_code == 302
    mailbox = Mailbox.objects.get(address="info@acme.test")
    assert not mailbox.has_imap and mailbox.name == "info@acme.test"


def test_an_address_connected_already_is_refused(dovecot, mail_user, admin):
    client = logged_in(admin)
    connect_through(client, URL, _form(dovecot, mail_user))

    response = client.post(URL, _form(dovecot, mail_user, name="Again"))

    assert "already connected" in response.content.decode()
    assert Mailbox.objects.get().name == "Support"


@pytest.mark.parametrize(
    "changes",
    [
        {"address": "not an address"},
        {"imap_port": "0"},
        {"imap_port": "70000"},
        {"imap_security": "plaintext-please"},
        {"crm_rule": "smart:no-such-type"},
        {"initial_days": "0"},
        {"imap_host": None},
    ],
)
def test_bad_input_is_refused_before_any_login(dovecot, mail_user, admin, changes):
    response = logged_in(admin).post(URL, _form(dovecot, mail_user, **changes))

    assert response.status_code == 200 and response.context["form"].errors
    assert not ConnectionCheck.objects.exists() and not Mailbox.objects.exists()


def test_only_an_administrator_connects_a_shared_mailbox(dovecot, mail_user):
    client = logged_in(UserFactory())

    assert client.get(URL).status_code == 403
    assert client.post(URL, _form(dovecot, mail_user)).status_code == 403
    assert not Mailbox.objects.exists()


def test_the_mailbox_list_offers_the_page_to_administrators_only(admin):
    link = f'href="{URL}"'
    assert link in logged_in(admin).get(reverse("web:mailboxes")).content.decode()
    assert link not in logged_in(UserFactory()).get(reverse("web:mailboxes")).content.decode()
