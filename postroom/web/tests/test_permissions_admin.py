"""The administrators' pages for roles, departments and people (postroom/web/admin_views.py)."""

import pytest
from django.test import Client
from django.urls import reverse

from postroom.accounts.models import Department, Role, RolePermission
from postroom.crm import access
from postroom.testing.factories import (
    DealFactory,
    DepartmentFactory,
    SmartTypeFactory,
    UserFactory,
    default_role,
)

pytestmark = pytest.mark.django_db
Scope = RolePermission.Scope


@pytest.fixture
def admin(client):
    user = UserFactory(username="boss", password=None, is_superuser=True, is_staff=True)
    client.force_login(user)
    return user


PAGES = [
    ("web:roles", ()),
    ("web:departments", ()),
    ("web:people", ()),
]


@pytest.mark.parametrize(("name", "args"), PAGES)
def test_the_pages_are_for_administrators_only(client, name, args):
    client.force_login(UserFactory(password=None))
    response = client.get(reverse(name, args=args))
    assert response.status_code == 403
    client.logout()
    assert client.get(reverse(name, args=args)).status_code == 302  # to the login


def test_a_non_administrator_cannot_post_a_role_change(client):
    manager = default_role("Manager")
    client.force_login(UserFactory(password=None))
    response = client.post(reverse("web:role", args=[manager.pk]), {"name": "Hacked"})
    assert response.status_code == 403
    assert Role.objects.filter(name="Manager").exists()


def test_the_default_roles_are_listed(client, admin):
    page = client.get(reverse("web:roles")).content.decode()
    for name in ("Manager", "Head of department", "Administrator"):
        assert name in page


def test_the_matrix_shows_each_entity_and_smart_type_with_the_roles_scopes(client, admin):
    SmartTypeFactory(name="Warranty Claim", slug="warranty-claim")
    role = default_role("Manager")
    page = client.get(reverse("web:role", args=[role.pk])).content.decode()
    for label in ("Leads", "Contacts", "Companies", "Deals", "Warranty Claim", "Other smart types"):
        assert label in page
    assert 'name="deal|edit"' in page and 'name="smart:warranty-claim|read"' in page
    # Manager edits own deals: "Own" (1) is selected in the deal|edit select.
    deal_edit = page[page.index('name="deal|edit"') :]
    deal_edit = deal_edit[: deal_edit.index("</select>")]
    assert '<option value="1" selected>' in deal_edit


def test_saving_the_matrix_changes_what_holders_may_do(client, admin):
    role = default_role("Manager")
    alice = UserFactory(password=None)
    alice.roles.set([role])
    deal = DealFactory(responsible=UserFactory(password=None))
    assert not access.can_read(type(alice).objects.get(pk=alice.pk), deal)
    response = client.post(
        reverse("web:role", args=[role.pk]),
        {"name": "Manager", "description": "", "deal|read": "3", "deal|edit": "3"},
    )
    assert response.status_code == 302
    alice = type(alice).objects.get(pk=alice.pk)
    assert access.can_read(alice, deal) and access.can_edit(alice, deal)
    assert not access.can_delete(alice, deal)  # untouched: own only


def test_a_smart_type_may_follow_the_other_smart_types_row(client, admin):
    SmartTypeFactory(name="Warranty Claim", slug="warranty-claim")
    role = default_role("Manager")
    client.post(
        reverse("web:role", args=[role.pk]),
        {"name": "Manager", "smart:warranty-claim|read": "0"},
    )
    assert role.permissions.get(entity="smart:warranty-claim", action="read").scope == Scope.NONE
    client.post(
        reverse("web:role", args=[role.pk]),
        {"name": "Manager", "smart:warranty-claim|read": ""},
    )
    assert not role.permissions.filter(entity="smart:warranty-claim").exists()


def test_a_forged_scope_is_refused_and_nothing_is_saved(client, admin):
    role = default_role("Manager")
    response = client.post(
        reverse("web:role", args=[role.pk]),
        {"name": "Renamed", "deal|read": "9"},
        follow=True,
    )
    assert "Not saved" in response.content.decode()
    role.refresh_from_db()
    assert role.name == "Manager"
    assert role.permissions.get(entity="deal", action="read").scope == Scope.DEPARTMENT


def test_creating_and_deleting_a_role(client, admin):
    response = client.post(reverse("web:roles"), {"name": "Observer", "description": "Reads"})
    role = Role.objects.get(name="Observer")
    assert response.url == reverse("web:role", args=[role.pk])
    duplicate = client.post(reverse("web:roles"), {"name": "observer"})
    assert "already exists" in duplicate.content.decode()
    client.post(reverse("web:role_delete", args=[role.pk]))
    assert not Role.objects.filter(name="Observer").exists()


def test_deleting_needs_a_post(client, admin):
    role = default_role("Manager")
    assert client.get(reverse("web:role_delete", args=[role.pk])).status_code == 405


def test_the_forms_need_the_csrf_token(admin):
    csrf_client = Client(enforce_csrf_checks=True)
    csrf_client.force_login(admin)
    response = csrf_client.post(reverse("web:roles"), {"name": "Sneaky"})
    assert response.status_code == 403
    assert not Role.objects.filter(name="Sneaky").exists()


def test_creating_a_department_with_a_head_and_members(client, admin):
    alice, bob = UserFactory(password=None), UserFactory(password=None)
    client.post(
        reverse("web:departments"),
        {"name": "Sales", "head": alice.pk, "members": [alice.pk, bob.pk]},
    )
    department = Department.objects.get(name="Sales")
    assert department.head == alice
    assert set(department.members) == {alice, bob}
    assert department.group.name == "Sales"
    page = client.get(reverse("web:departments")).content.decode()
    assert "Sales" in page and str(bob) in page


def test_renaming_a_department_renames_its_group_and_changes_members(client, admin):
    alice, bob = UserFactory(password=None), UserFactory(password=None)
    department = DepartmentFactory(name="Sales", members=[alice])
    client.post(
        reverse("web:department", args=[department.pk]),
        {"name": "Field sales", "members": [bob.pk]},
    )
    department.refresh_from_db()
    assert department.group.name == "Field sales"
    assert list(department.members) == [bob]


def test_assigning_roles_and_departments_to_a_user(client, admin):
    alice = UserFactory(password=None)
    sales = DepartmentFactory(name="Sales")
    head = default_role("Head of department")
    client.post(
        reverse("web:user_access", args=[alice.pk]),
        {"roles": [head.pk], "departments": [sales.pk]},
    )
    assert list(alice.roles.all()) == [head]
    assert list(sales.members) == [alice]
    page = client.get(reverse("web:people")).content.decode()
    assert "Head of department" in page and "Sales" in page
    # Leaving every department keeps other groups (a mailbox grant group, say).
    alice.groups.create(name="Mail readers")
    client.post(reverse("web:user_access", args=[alice.pk]), {"roles": [head.pk]})
    assert list(alice.groups.values_list("name", flat=True)) == ["Mail readers"]


def test_the_nav_links_administrators_to_people_and_roles(client, admin):
    page = client.get(reverse("web:roles")).content.decode()
    assert reverse("web:people") in page


def test_djangos_admin_shows_roles_and_a_users_roles(client, admin):
    role = default_role("Manager")
    assert client.get(reverse("admin:accounts_role_change", args=[role.pk])).status_code == 200
    page = client.get(reverse("admin:accounts_user_change", args=[admin.pk]))
    assert page.status_code == 200 and b"roles" in page.content
