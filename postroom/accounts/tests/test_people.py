"""Adding, inviting, deactivating people (postroom/accounts/actions.py) and how people
are named (postroom/accounts/people.py)."""

import time

import pytest
from django.core import signing

from postroom.accounts import actions, invitations
from postroom.accounts.invitations import InvitationError
from postroom.accounts.people import active_people, display_name, person_choices
from postroom.testing.factories import DepartmentFactory, RoleFactory, UserFactory

pytestmark = pytest.mark.django_db


def _fresh(user):
    return type(user).objects.get(pk=user.pk)


def test_an_invited_person_has_no_password_until_the_link_is_used_once():
    sales = DepartmentFactory(name="Sales")
    extra = RoleFactory(name="Reporter")
    anna, password = actions.do_add_person(
        email="Anna.Berg@acme.test",
        first_name="Anna",
        last_name="Berg",
        departments=[sales],
        roles=[extra],
    )
    assert password is None and not anna.has_usable_password()
    assert anna.username == "anna.berg" and anna.email == "anna.berg@acme.test"
    assert sorted(r.name for r in anna.roles.all()) == ["Manager", "Reporter"]
    assert list(sales.members) == [anna]
    assert actions.is_invited(anna)

    token = actions.invitation_token(anna)
    actions.do_accept_invitation(token, "a-long-Passw0rd-of-her-own")
    assert _fresh(anna).check_password("a-long-Passw0rd-of-her-own")
    with pytest.raises(InvitationError, match="already used"):
        actions.do_accept_invitation(token, "someone-else-Passw0rd")
    assert _fresh(anna).check_password("a-long-Passw0rd-of-her-own")


def test_a_person_added_with_a_password_gets_one_generated():
    bob, password = actions.do_add_person(email="bob@acme.test", invite=False)
    assert password and bob.check_password(password)
    assert [r.name for r in bob.roles.all()] == ["Manager"]


def test_an_invitation_expires(monkeypatch, settings):
    settings.POSTROOM = {**settings.POSTROOM, "INVITATION_DAYS": 7}
    anna, _ = actions.do_add_person(email="anna@acme.test")
    token = actions.invitation_token(anna)
    later = time.time() + 8 * 86400
    monkeypatch.setattr(signing.time, "time", lambda: later)
    with pytest.raises(InvitationError, match="expired"):
        invitations.read_token(token)


def test_a_new_link_replaces_the_old_one():
    anna, _ = actions.do_add_person(email="anna@acme.test")
    old = actions.invitation_token(anna)
    new = actions.do_renew_invitation(_fresh(anna))
    with pytest.raises(InvitationError):
        invitations.read_token(old)
    assert invitations.read_token(new) == anna


@pytest.mark.parametrize("token", ["", "garbage", "eyJ1IjoxfQ:1abc:forged", "a" * 500])
def test_a_forged_or_broken_link_is_refused_with_a_reason(token):
    UserFactory()
    with pytest.raises(InvitationError, match="not a valid invitation"):
        invitations.read_token(token)


@pytest.mark.parametrize(
    ("email", "username", "why"),
    [
        ("not-an-address", "", "not an email address"),
        ("x@acme.test", "bad name!", "not a valid username"),
    ],
)
def test_bad_input_is_refused_with_a_reason(email, username, why):
    with pytest.raises(actions.UserError, match=why):
        actions.do_add_person(email=email, username=username)


def test_a_taken_email_is_refused_whatever_its_case():
    UserFactory(email="anna@acme.test")
    with pytest.raises(actions.UserError, match="already exists"):
        actions.do_add_person(email="ANNA@acme.test")


def test_a_taken_username_gets_a_number():
    UserFactory(username="anna")
    anna, _ = actions.do_add_person(email="anna@other.test")
    assert anna.username == "anna2"


def test_deactivating_keeps_what_they_hold_and_marks_their_name():
    admin = UserFactory(is_superuser=True)
    anna = UserFactory(first_name="Anna", last_name="Berg")
    actions.do_deactivate_user(anna, acting_user=admin)
    anna = _fresh(anna)
    assert not anna.is_active
    assert str(anna) == "Anna Berg (deactivated)"
    assert anna not in active_people()
    actions.do_reactivate_user(anna, acting_user=admin)
    assert str(_fresh(anna)) == "Anna Berg"


def test_nobody_deactivates_themselves_or_the_last_administrator():
    root = UserFactory(is_superuser=True)
    with pytest.raises(actions.UserError, match="yourself"):
        actions.do_deactivate_user(root, acting_user=root)
    with pytest.raises(actions.UserError, match="last active administrator"):
        actions.do_deactivate_user(root)


def test_pickers_show_the_full_name_and_the_username_only_without_one():
    named = UserFactory(username="abe", first_name="Zoe", last_name="Adams")
    bare = UserFactory(username="bob")
    assert display_name(named) == "Zoe Adams" and display_name(bare) == "bob"
    assert person_choices([named, bare]) == [(str(named.pk), "Zoe Adams"), (str(bare.pk), "bob")]
