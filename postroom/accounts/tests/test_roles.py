"""Roles, their rights and departments (postroom/accounts/roles.py)."""

import pytest
from django.contrib.auth.models import Group

from postroom.accounts import roles
from postroom.accounts.actions import do_create_user
from postroom.accounts.models import Department, Role, RolePermission
from postroom.mailboxes.access import mailboxes_for
from postroom.mailboxes.models import MailboxGrant
from postroom.testing.factories import DepartmentFactory, MailboxFactory, RoleFactory, UserFactory

pytestmark = pytest.mark.django_db
Scope = RolePermission.Scope


def _fresh(user):
    return type(user).objects.get(pk=user.pk)


def test_the_migration_creates_the_default_roles():
    manager = Role.objects.get(name="Manager")
    assert manager.is_default
    matrix = roles.permission_matrix(manager)
    assert matrix[("lead", "read")] == Scope.DEPARTMENT
    assert matrix[("deal", "edit")] == Scope.OWN
    assert matrix[("smart:*", "delete")] == Scope.OWN
    head = roles.permission_matrix(Role.objects.get(name="Head of department"))
    assert head[("company", "edit")] == Scope.DEPARTMENT
    admin = roles.permission_matrix(Role.objects.get(name="Administrator"))
    assert set(admin.values()) == {Scope.ALL}


def test_a_new_user_gets_the_default_roles_an_administrator_none():
    user, _ = do_create_user("alice", email="alice@acme.test", password="pw-alice-123")
    assert [r.name for r in user.roles.all()] == ["Manager"]
    admin, _ = do_create_user("root", email="root@acme.test", password="pw-root-123", admin=True)
    assert not admin.roles.exists()


def test_scopes_of_several_roles_combine_by_the_widest():
    user = UserFactory(password=None)
    narrow = RoleFactory(rights={("deal", "read"): Scope.OWN})
    wide = RoleFactory(rights={("deal", "read"): Scope.ALL})
    roles.do_set_user_roles(user, [narrow])
    assert roles.scope_of(_fresh(user), "deal", "read") == Scope.OWN
    roles.do_set_user_roles(user, [narrow, wide])
    assert roles.scope_of(_fresh(user), "deal", "read") == Scope.ALL
    assert roles.scope_of(_fresh(user), "lead", "read") == Scope.NONE


def test_the_rights_are_read_once_per_user_instance(django_assert_num_queries):
    user = UserFactory(password=None)
    roles.do_set_user_roles(user, [RoleFactory(rights={("deal", "read"): Scope.ALL})])
    user = _fresh(user)
    with django_assert_num_queries(2):
        for _ in range(50):
            roles.scope_of(user, "deal", "read")


def test_a_smart_types_row_overrides_the_any_smart_type_row_of_the_same_role():
    user = UserFactory(password=None)
    role = RoleFactory(rights={("smart:*", "read"): Scope.ALL})
    roles.do_set_role_permissions(role, {("smart:claims", "read"): Scope.NONE})
    roles.do_set_user_roles(user, [role])
    user = _fresh(user)
    assert roles.scope_of(user, "smart:claims", "read") == Scope.NONE
    assert roles.scope_of(user, "smart:support-request", "read") == Scope.ALL
    roles.do_set_role_permissions(role, {("smart:claims", "read"): None})
    assert roles.scope_of(_fresh(user), "smart:claims", "read") == Scope.ALL


def test_setting_permissions_rejects_unknown_entities_actions_and_scopes():
    role = RoleFactory()
    for bad in (
        {("leads", "read"): Scope.ALL},
        {("lead", "write"): Scope.ALL},
        {("lead", "read"): 7},
        {("smart:<script>", "read"): Scope.ALL},
    ):
        with pytest.raises(roles.RoleError):
            roles.do_set_role_permissions(role, bad)
    assert not role.permissions.exists()


def test_setting_a_base_entity_to_none_removes_its_row():
    role = RoleFactory(rights={("lead", "read"): Scope.ALL})
    assert roles.do_set_role_permissions(role, {("lead", "read"): Scope.NONE}) == 1
    assert not role.permissions.exists()
    assert roles.do_set_role_permissions(role, {("lead", "read"): Scope.NONE}) == 0


def test_a_department_is_a_group_so_a_mailbox_grant_to_it_reaches_its_members():
    alice = UserFactory(password=None)
    sales = roles.do_create_department("Sales", members=[alice])
    mailbox = MailboxFactory()
    MailboxGrant.objects.create(mailbox=mailbox, group=sales.group, level=MailboxGrant.Level.READ)
    assert list(mailboxes_for(alice)) == [mailbox]
    roles.do_set_user_departments(alice, [])
    assert list(mailboxes_for(_fresh(alice))) == []


def test_department_names_are_unique_and_an_existing_bare_group_is_taken_over():
    Group.objects.create(name="Support")
    support = roles.do_create_department("  Support ")
    assert support.name == "Support" and support.group.name == "Support"
    with pytest.raises(roles.RoleError):
        roles.do_create_department("support")
    with pytest.raises(roles.RoleError):
        roles.do_create_department("   ")


def test_colleagues_are_the_members_and_heads_of_the_users_departments():
    alice, bob, carol, dave = (UserFactory(password=None) for _ in range(4))
    DepartmentFactory(name="Sales", members=[alice, bob], head=carol)
    DepartmentFactory(name="Support", members=[dave])
    assert roles.colleague_ids(_fresh(alice)) == {alice.pk, bob.pk, carol.pk}
    assert roles.colleague_ids(_fresh(carol)) == {alice.pk, bob.pk, carol.pk}
    assert roles.colleague_ids(_fresh(dave)) == {dave.pk}
    loner = UserFactory(password=None)
    assert roles.colleague_ids(loner) == {loner.pk}


def test_deleting_a_department_deletes_its_group():
    sales = DepartmentFactory(name="Sales")
    group_id = sales.group_id
    roles.do_delete_department(sales)
    assert not Department.objects.exists()
    assert not Group.objects.filter(pk=group_id).exists()


def test_an_anonymous_or_inactive_user_has_no_scope():
    from django.contrib.auth.models import AnonymousUser

    assert roles.scope_of(AnonymousUser(), "lead", "read") == Scope.NONE
    user = UserFactory(password=None, is_active=False, is_superuser=True)
    assert roles.scope_of(user, "lead", "read") == Scope.NONE
