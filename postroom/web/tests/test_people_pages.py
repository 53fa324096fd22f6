"""People, as an administrator manages them in Postroom (postroom/web/people_views.py):
adding or inviting, the invitation link, deactivating with what they hold, and the
default roles of a user however created (this page, `postroom user`, Django's admin)."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from postroom.mailboxes.actions import do_grant_mailbox
from postroom.mailboxes.models import MailboxGrant
from postroom.routing.models import DistributionRule
from postroom.testing.factories import (
    PASSWORD,
    ConversationFactory,
    DepartmentFactory,
    LeadFactory,
    MailboxFactory,
    UserFactory,
)
from postroom.testing.web import logged_in

pytestmark = pytest.mark.django_db
User = get_user_model()


@pytest.fixture
def admin():
    return UserFactory(username="root", is_superuser=True, is_staff=True)


def _logs_in(username: str, password: str) -> bool:
    """Through the login page, as a person would (axes checks every login)."""
    response = Client().post(reverse("login"), {"username": username, "password": password})
    return response.status_code == 302


def _add(client, **fields):
    data = {"email": "anna@acme.test", "first_name": "Anna", "last_name": "Berg", "how": "invite"}
    data.update(fields)
    return client.post(reverse("web:person_add"), data)


def test_an_invited_colleague_chooses_a_password_and_logs_in(admin):
    sales = DepartmentFactory(name="Sales")
    page = _add(logged_in(admin), departments=[sales.pk]).content.decode()
    link = re.search(r'data-invitation-link[^>]*value="([^"]+)"', page).group(1)
    anna = User.objects.get(email="anna@acme.test")
    assert [r.name for r in anna.roles.all()] == ["Manager"]
    assert list(sales.members) == [anna]

    stranger = Client()
    path = link.removeprefix("http://testserver")
    assert "Welcome to Postroom, Anna Berg" in stranger.get(path).content.decode()
    weak = stranger.post(path, {"new_password1": "abc", "new_password2": "abc"})
    assert weak.status_code == 200 and "too short" in weak.content.decode()
    done = stranger.post(
        path, {"new_password1": "Fjord-lantern-42", "new_password2": "Fjord-lantern-42"}
    )
    assert done.status_code == 302 and done["Location"] == reverse("login")
    assert _logs_in("anna", "Fjord-lantern-42")

    again = stranger.get(path)
    assert again.status_code == 410 and "already used" in again.content.decode()


def test_a_generated_password_is_shown_once(admin):
    client = logged_in(admin)
    page = _add(client, how="password").content.decode()
    password = re.search(r"data-generated-password>([^<]+)<", page).group(1)
    assert User.objects.get(email="anna@acme.test").check_password(password)
    assert password not in client.get(reverse("web:people")).content.decode()


def test_a_bad_form_says_why_and_creates_nobody(admin):
    UserFactory(username="anna", email="anna@acme.test")
    response = _add(logged_in(admin))
    assert response.status_code == 200
    assert "already exists" in response.content.decode()
    assert User.objects.filter(email__iexact="anna@acme.test").count() == 1


def test_only_administrators_add_people():
    response = _add(logged_in(UserFactory()))
    assert response.status_code == 403
    assert not User.objects.filter(email="anna@acme.test").exists()


def test_deactivating_shows_what_they_still_hold(admin):
    bob = UserFactory(username="bob", first_name="Bob", last_name="Seller")
    mailbox = MailboxFactory(address="sales@acme.test")
    do_grant_mailbox(mailbox, bob, MailboxGrant.Level.REPLY)
    ConversationFactory(mailbox=mailbox, responsible=bob)
    LeadFactory(responsible=bob)
    DistributionRule.objects.create(mailbox=mailbox, name="Big deals", target_user=bob)
    client = logged_in(admin)

    response = client.post(reverse("web:person_deactivate", args=[bob.pk]), follow=True)
    page = response.content.decode()
    assert "Bob Seller is deactivated" in page
    for held in (
        "Reply access to sales@acme.test",
        "responsible for 1 open conversation",
        "responsible for 1 lead",
        "named in the rule",
    ):
        assert held in page, held
    listing = client.get(reverse("web:people")).content.decode()
    assert "deactivated" in listing and "Still holds" in listing
    access = client.get(reverse("web:mailbox_access", args=[mailbox.pk])).content.decode()
    assert "Bob Seller (deactivated)" in access
    assert not _logs_in("bob", PASSWORD), "a deactivated person cannot log in"

    client.post(reverse("web:person_reactivate", args=[bob.pk]))
    assert User.objects.get(pk=bob.pk).is_active


def test_a_user_added_with_postroom_user_gets_the_default_roles():
    call_command("user", "add", "carl", "--email", "carl@acme.test", "--first-name", "Carl")
    carl = User.objects.get(username="carl")
    assert [r.name for r in carl.roles.all()] == ["Manager"] and carl.first_name == "Carl"


def test_a_user_added_in_djangos_admin_gets_the_default_roles(admin):
    response = logged_in(admin).post(
        "/admin/accounts/user/add/",
        {
            "username": "dora",
            "email": "dora@acme.test",
            "usable_password": "true",
            "password1": "Harbour-light-73",
            "password2": "Harbour-light-73",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    dora = User.objects.get(username="dora")
    assert [r.name for r in dora.roles.all()] == ["Manager"]
