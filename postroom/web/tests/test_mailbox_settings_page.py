"""A shared mailbox's settings page: its managers change how it is read, what its mail
makes in the CRM and whether sent mail is filed in Sent; nobody else can."""

import pytest
from django.urls import reverse

from postroom.crm.capture import capture_message
from postroom.crm.models import Contact, Deal, Lead, SmartItem
from postroom.mail.ingest import FetchedMessage, parse_stored, store_copy
from postroom.mailboxes.actions import do_grant_mailbox
from postroom.mailboxes.models import Mailbox, MailboxGrant
from postroom.outbound.models import OutboundSettings
from postroom.testing.factories import MailboxFactory, SmartTypeFactory, UserFactory
from postroom.testing.mail import make_email
from postroom.testing.web import logged_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def mailbox():
    return MailboxFactory(address="sales@acme.test", name="Sales", imap_security="ssl")


@pytest.fixture
def manager(mailbox):
    user = UserFactory(username="mia")
    do_grant_mailbox(mailbox, user, MailboxGrant.Level.MANAGE)
    return user


def _url(mailbox) -> str:
    return reverse("web:mailbox_settings", args=[mailbox.pk])


def _post(client, mailbox, **changes):
    """The form as its page shows it, with `changes` made."""
    page = client.get(_url(mailbox))
    form = page.context["form"]
    data = {}
    for name, field in form.fields.items():
        value = form.initial.get(name, field.initial)
        if isinstance(value, bool):
            value = "on" if value else ""
        data[name] = "" if value is None else value
    data.update(changes)
    return client.post(_url(mailbox), {k: v for k, v in data.items() if v != ""})


def _arrive(mailbox, sender: str, subject: str):
    inbox = mailbox.folders.get(name="INBOX")
    raw = make_email(sender=sender, to=mailbox.address, subject=subject)
    uid = inbox.copies.count() + 1
    message = parse_stored(store_copy(inbox, 1, FetchedMessage(uid=uid, raw=raw)).message)
    mailbox.refresh_from_db()
    capture_message(message, mailbox)
    return message


def test_a_manager_switches_new_mail_to_a_smart_process_and_the_next_email_follows_it(
    mailbox, manager
):
    SmartTypeFactory(name="Support Request", slug="support-request")
    response = _post(logged_in(manager), mailbox, crm_rule="smart:support-request")

    assert response.status_code == 302
    mailbox.refresh_from_db()
    assert (mailbox.crm_rule, mailbox.crm_smart_type) == ("smart", "support-request")
    _arrive(mailbox, "Carol <carol@customer.test>", "My printer is on fire")
    assert SmartItem.objects.filter(title="My printer is on fire").exists()
    assert not Lead.objects.exists()


def test_contact_and_deal_rule_makes_both_for_a_new_sender(mailbox, manager):
    _post(logged_in(manager), mailbox, crm_rule="contact-deal")

    _arrive(mailbox, "Dan <dan@newclient.test>", "A quote for 40 pallets")
    assert Contact.objects.filter(emails__email="dan@newclient.test").exists()
    assert Deal.objects.count() == 1 and not Lead.objects.exists()


def test_sync_settings_are_saved_and_shown_again(mailbox, manager):
    client = logged_in(manager)
    _post(
        client,
        mailbox,
        name="Sales team",
        initial_days="90",
        poll_interval="120",
        allow_self_signed="on",
        save_to_sent="",
    )

    mailbox.refresh_from_db()
    assert mailbox.name == "Sales team"
    assert (mailbox.initial_days, mailbox.poll_interval) == (90, 120)
    assert mailbox.allow_self_signed
    assert OutboundSettings.of(mailbox).save_to_sent is False
    page = client.get(_url(mailbox)).content.decode()
    assert 'value="Sales team"' in page and 'value="90"' in page


def test_the_responsible_person_can_be_set_and_cleared(mailbox, manager):
    client = logged_in(manager)
    bob = UserFactory(username="bob")
    _post(client, mailbox, crm_responsible=str(bob.pk), crm_notify=[str(bob.pk)])
    mailbox.refresh_from_db()
    assert mailbox.crm_responsible == bob
    assert list(mailbox.crm_notify.all()) == [bob]

    _post(client, mailbox, crm_responsible="", crm_notify=[])
    mailbox.refresh_from_db()
    assert mailbox.crm_responsible is None and not mailbox.crm_notify.exists()


@pytest.mark.parametrize(
    "changes",
    [
        {"poll_interval": "0"},
        {"poll_interval": "-5"},
        {"initial_days": "100000"},
        {"crm_rule": "smart:no-such-type"},
        {"crm_rule": "delete-everything"},
        {"crm_responsible": "999999"},
        {"name": "   "},
    ],
)
def test_bad_input_is_refused_and_nothing_is_saved(mailbox, manager, changes):
    before = Mailbox.objects.filter(pk=mailbox.pk).values().get()

    response = _post(logged_in(manager), mailbox, **{"initial_days": "45", **changes})

    assert response.status_code == 200
    assert response.context["form"].errors
    assert Mailbox.objects.filter(pk=mailbox.pk).values().get() == before


def test_self_signed_is_not_offered_without_tls():
    plain = MailboxFactory(imap_security="none")
    user = UserFactory()
    do_grant_mailbox(plain, user, MailboxGrant.Level.MANAGE)

    page = logged_in(user).get(_url(plain))

    assert "allow_self_signed" not in page.context["form"].fields
    _post(logged_in(user), plain, allow_self_signed="on")
    plain.refresh_from_db()
    assert not plain.allow_self_signed


def test_an_ingress_mailbox_has_no_sync_settings(manager):
    fed = MailboxFactory(imap_host="", imap_port=None, imap_security="")
    do_grant_mailbox(fed, manager, MailboxGrant.Level.MANAGE)

    form = logged_in(manager).get(_url(fed)).context["form"]

    assert not {"initial_days", "poll_interval", "save_to_sent"} & set(form.fields)
    assert _post(logged_in(manager), fed, crm_rule="none").status_code == 302
    fed.refresh_from_db()
    assert fed.crm_rule == "none"


@pytest.mark.parametrize("level", [MailboxGrant.Level.READ, MailboxGrant.Level.REPLY])
def test_a_colleague_without_the_manage_right_may_not_open_or_post(mailbox, level):
    user = UserFactory()
    do_grant_mailbox(mailbox, user, level)

    client = logged_in(user)
    assert client.get(_url(mailbox)).status_code == 403
    assert client.post(_url(mailbox), {"name": "Hijacked", "crm_rule": "none"}).status_code == 403
    mailbox.refresh_from_db()
    assert mailbox.name == "Sales"


def test_a_stranger_does_not_learn_the_mailbox_exists(mailbox):
    assert logged_in(UserFactory()).get(_url(mailbox)).status_code == 404


def test_a_forged_post_without_the_csrf_token_is_refused(mailbox, manager):
    client = logged_in(manager, enforce_csrf_checks=True)

    response = client.post(_url(mailbox), {"name": "Forged", "crm_rule": "none"})

    assert response.status_code == 403
    mailbox.refresh_from_db()
    assert mailbox.name == "Sales"


def test_managers_find_the_page_from_the_mailbox_and_the_list(mailbox, manager):
    reader = UserFactory()
    do_grant_mailbox(mailbox, reader, MailboxGrant.Level.READ)
    for page in (reverse("web:mailbox", args=[mailbox.pk]), reverse("web:mailboxes")):
        assert _url(mailbox) in logged_in(manager).get(page).content.decode()
        assert _url(mailbox) not in logged_in(reader).get(page).content.decode()


@pytest.mark.parametrize("page", ["web:mailbox_settings", "web:mailbox_access"])
def test_a_personal_mailbox_leads_to_its_owners_page(page):
    owner = UserFactory()
    personal = MailboxFactory(kind=Mailbox.Kind.PERSONAL, owner=owner)

    response = logged_in(owner).get(reverse(page, args=[personal.pk]))

    assert response.status_code == 302
    assert response.url == reverse("web:my_mailbox", args=[personal.pk])


def test_a_reader_has_the_mailbox_checked_now_and_sees_no_managers_links(mailbox):
    reader = UserFactory()
    do_grant_mailbox(mailbox, reader, MailboxGrant.Level.READ)
    client = logged_in(reader)
    page = client.get(reverse("web:mailbox", args=[mailbox.pk])).content.decode()
    assert reverse("web:mailbox_folders", args=[mailbox.pk]) not in page
    assert "Check for new mail" in page
    url = reverse("web:sync_now", args=[mailbox.pk])

    assert client.get(url).status_code == 405
    response = client.post(url, follow=True)

    assert f"Checking {mailbox.address} for new mail now." in response.content.decode()
    assert mailbox.folders.get(name="INBOX").sync_requested_at is not None
    assert logged_in(UserFactory()).post(url).status_code == 404
