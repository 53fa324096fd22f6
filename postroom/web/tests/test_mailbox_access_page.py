"""Who may use a shared mailbox: its managers give people and departments read, reply or
manage access on its Access page, change and remove it, and cannot lock themselves out."""

import pytest
from django.urls import reverse

from postroom.mailboxes.access import mailboxes_for
from postroom.mailboxes.actions import do_grant_mailbox
from postroom.mailboxes.models import MailboxGrant
from postroom.testing.factories import DepartmentFactory, MailboxFactory, UserFactory
from postroom.testing.web import logged_in

pytestmark = pytest.mark.django_db

READ, REPLY, MANAGE = MailboxGrant.Level.READ, MailboxGrant.Level.REPLY, MailboxGrant.Level.MANAGE


@pytest.fixture
def mailbox():
    return MailboxFactory(address="support@acme.test", name="Support")


@pytest.fixture
def manager(mailbox):
    user = UserFactory(username="mia")
    do_grant_mailbox(mailbox, user, MANAGE)
    return user


def _url(mailbox) -> str:
    return reverse("web:mailbox_access", args=[mailbox.pk])


def _remove_url(grant) -> str:
    return reverse("web:revoke_grant", args=[grant.mailbox_id, grant.pk])


def test_a_person_given_read_access_sees_the_mailbox_and_may_not_reply(mailbox, manager):
    bob = UserFactory(username="bob")
    assert not mailboxes_for(bob).exists()

    response = logged_in(manager).post(_url(mailbox), {"user": bob.pk, "level": READ})

    assert response.status_code == 302
    assert list(mailboxes_for(bob)) == [mailbox]
    assert not mailboxes_for(bob, REPLY).exists()
    page = logged_in(manager).get(_url(mailbox)).content.decode()
    assert "bob" in page and "Read" in page


def test_a_departments_access_reaches_its_members_and_later_ones(mailbox, manager):
    support = DepartmentFactory(name="Support team", members=[UserFactory(username="sam")])

    logged_in(manager).post(_url(mailbox), {"department": support.pk, "level": REPLY})

    sam = support.members.get()
    newcomer = UserFactory(username="nina")
    support.group.user_set.add(newcomer)
    for member in (sam, newcomer):
        assert list(mailboxes_for(member, REPLY)) == [mailbox]
    assert "Support team (department)" in logged_in(manager).get(_url(mailbox)).content.decode()


def test_giving_access_again_changes_the_level_instead_of_adding_a_row(mailbox, manager):
    bob = UserFactory()
    client = logged_in(manager)
    client.post(_url(mailbox), {"user": bob.pk, "level": READ})
    client.post(_url(mailbox), {"user": bob.pk, "level": MANAGE})

    assert MailboxGrant.objects.filter(mailbox=mailbox, user=bob).get().level == MANAGE


def test_removing_access_hides_the_mailbox(mailbox, manager):
    bob = UserFactory()
    grant = do_grant_mailbox(mailbox, bob, REPLY)

    response = logged_in(manager).post(_remove_url(grant))

    assert response.status_code == 302
    assert not mailboxes_for(bob).exists()


def test_a_manager_cannot_remove_or_lower_their_own_last_manage_grant(mailbox, manager):
    own = MailboxGrant.objects.get(mailbox=mailbox, user=manager)
    client = logged_in(manager)

    client.post(_remove_url(own))
    response = client.post(_url(mailbox), {"user": manager.pk, "level": READ})

    assert "your own right to manage" in response.content.decode()
    assert MailboxGrant.objects.get(pk=own.pk).level == MANAGE


def test_a_manager_through_a_department_may_drop_their_personal_grant(mailbox, manager):
    team = DepartmentFactory(members=[manager])
    MailboxGrant.objects.create(mailbox=mailbox, group=team.group, level=MANAGE)
    own = MailboxGrant.objects.get(mailbox=mailbox, user=manager)

    logged_in(manager).post(_remove_url(own))

    assert not MailboxGrant.objects.filter(pk=own.pk).exists()
    assert list(mailboxes_for(manager, MANAGE)) == [mailbox]


def test_an_administrator_may_remove_any_grant(mailbox, manager):
    admin = UserFactory(is_superuser=True)
    own = MailboxGrant.objects.get(mailbox=mailbox, user=manager)

    logged_in(admin).post(_remove_url(own))

    assert not mailboxes_for(manager).exists()


@pytest.mark.parametrize(
    "data",
    [
        {"level": READ},  # nobody
        {"user": "1", "department": "1", "level": READ},  # both
        {"user": "999999", "level": READ},
        {"user": "__USER__", "level": "7"},
        {"user": "__USER__", "level": "manage; DROP TABLE"},
    ],
)
def test_bad_input_is_refused_and_gives_no_access(mailbox, manager, data):
    bob = UserFactory()
    DepartmentFactory()
    data = {k: (bob.pk if v == "__USER__" else v) for k, v in data.items()}

    response = logged_in(manager).post(_url(mailbox), data)

    assert response.status_code == 200 and response.context["form"].errors
    assert MailboxGrant.objects.filter(mailbox=mailbox).count() == 1  # the manager's


def test_a_deactivated_person_is_not_offered(mailbox, manager):
    gone = UserFactory(username="gone", is_active=False)

    response = logged_in(manager).post(_url(mailbox), {"user": gone.pk, "level": READ})

    assert response.context["form"].errors
    assert not MailboxGrant.objects.filter(user=gone).exists()


@pytest.mark.parametrize("level", [READ, REPLY])
def test_only_managers_open_or_change_access(mailbox, manager, level):
    user = UserFactory()
    do_grant_mailbox(mailbox, user, level)
    own_grant = MailboxGrant.objects.get(mailbox=mailbox, user=manager)
    client = logged_in(user)

    assert client.get(_url(mailbox)).status_code == 403
    assert client.post(_url(mailbox), {"user": user.pk, "level": MANAGE}).status_code == 403
    assert client.post(_remove_url(own_grant)).status_code == 403
    assert MailboxGrant.objects.get(mailbox=mailbox, user=user).level == level
    assert MailboxGrant.objects.filter(pk=own_grant.pk).exists()


def test_a_grant_of_another_mailbox_cannot_be_removed_through_this_one(mailbox, manager):
    other = MailboxFactory()
    theirs = do_grant_mailbox(other, UserFactory(), READ)

    url = reverse("web:revoke_grant", args=[mailbox.pk, theirs.pk])
    assert logged_in(manager).post(url).status_code == 404
    assert MailboxGrant.objects.filter(pk=theirs.pk).exists()


def test_removing_needs_a_post_with_the_csrf_token(mailbox, manager):
    grant = do_grant_mailbox(mailbox, UserFactory(), READ)
    client = logged_in(manager, enforce_csrf_checks=True)

    assert client.get(_remove_url(grant)).status_code == 405
    assert client.post(_remove_url(grant)).status_code == 403
    assert MailboxGrant.objects.filter(pk=grant.pk).exists()
