"""Roles, their CRM rights, and departments: the writes (do_*) and the questions asked of them.

A user's right to do an action on an entity is the widest scope any of their roles
gives (RolePermission.Scope is ordered NONE < OWN < DEPARTMENT < ALL). For a smart type
a role's "smart:<slug>" row wins over its "smart:*" row. Administrators (is_superuser)
may do everything, whatever their roles; postroom/crm/access.py applies that.

Questions about one user are answered from two small caches on the user instance (the
rights and the ids of their department colleagues), so that a page checking fifty
items asks the database twice, not a hundred times. A request loads its user afresh, so
a change of roles shows from the next request on; the do_* functions here drop the
caches of the instances they are given.
"""

import re
from collections.abc import Iterable
from dataclasses import dataclass

from django.contrib.auth.models import Group
from django.db import transaction
from django.db.models import Q

from .models import Department, Role, RolePermission, User

Scope = RolePermission.Scope
Action = RolePermission.Action

# The entities a role speaks of; smart types add "smart:<slug>" and "smart:*" covers all.
BASE_ENTITIES = ("lead", "contact", "company", "deal")
ANY_SMART = "smart:*"
_ENTITY = re.compile(r"^(lead|contact|company|deal|smart:\*|smart:[-a-zA-Z0-9_]{1,100})$")

_RIGHTS_CACHE = "_postroom_role_rights"
_COLLEAGUES_CACHE = "_postroom_colleague_ids"


class RoleError(Exception):
    """A role or department cannot be changed as asked; the message says why."""


# --------------------------------------------------------------------- questions


@dataclass(frozen=True)
class Rights:
    """What a user's roles allow: each role's rows, kept apart for the smart:* fallback."""

    role_names: tuple[str, ...]
    per_role: tuple[dict[tuple[str, str], int], ...]

    def scope(self, entity: str, action: str) -> int:
        best = Scope.NONE
        for rows in self.per_role:
            scope = rows.get((entity, action))
            if scope is None and entity.startswith("smart:"):
                scope = rows.get((ANY_SMART, action))
            best = max(best, scope or Scope.NONE)
        return Scope(best)


def rights_of(user: User) -> Rights:
    """The user's roles' rights (cached on the instance)."""
    cached = getattr(user, _RIGHTS_CACHE, None)
    if cached is not None:
        return cached
    per_role: dict[int, dict[tuple[str, str], int]] = {}
    names: dict[int, str] = {}
    if user.is_authenticated and user.pk is not None:
        for role_id, name in Role.objects.filter(users=user).values_list("pk", "name"):
            per_role[role_id], names[role_id] = {}, name
        rows = RolePermission.objects.filter(role_id__in=list(per_role)).values_list(
            "role_id", "entity", "action", "scope"
        )
        for role_id, entity, action, scope in rows:
            per_role[role_id][(entity, action)] = scope
    rights = Rights(
        role_names=tuple(sorted(names.values())),
        per_role=tuple(per_role[k] for k in sorted(per_role)),
    )
    setattr(user, _RIGHTS_CACHE, rights)
    return rights


def scope_of(user: User, entity: str, action: str) -> Scope:
    """How far the user's right to `action` on `entity` reaches (administrators: ALL)."""
    if not user.is_authenticated or not user.is_active:
        return Scope.NONE
    if user.is_superuser:
        return Scope.ALL
    return rights_of(user).scope(entity, action)


def departments_of(user: User):
    """Departments the user belongs to or heads."""
    if not user.is_authenticated:
        return Department.objects.none()
    return Department.objects.filter(Q(group__user=user) | Q(head=user)).distinct()


def colleague_ids(user: User) -> frozenset[int]:
    """Ids of everyone in a department the user belongs to or heads, the user included.

    This is what "department" scope reaches: items whose responsible person is one of
    them. Cached on the instance; departments are small, so a set of ids is cheap.
    """
    cached = getattr(user, _COLLEAGUES_CACHE, None)
    if cached is not None:
        return cached
    ids: set[int] = {user.pk} if user.pk is not None else set()
    departments = list(departments_of(user).values_list("pk", "group_id", "head_id"))
    if departments:
        group_ids = [group_id for _, group_id, _ in departments]
        ids.update(User.objects.filter(groups__in=group_ids).values_list("pk", flat=True))
        ids.update(head_id for _, _, head_id in departments if head_id is not None)
    result = frozenset(ids)
    setattr(user, _COLLEAGUES_CACHE, result)
    return result


def forget_cached_rights(*users: User) -> None:
    for user in users:
        for name in (_RIGHTS_CACHE, _COLLEAGUES_CACHE):
            if hasattr(user, name):
                delattr(user, name)


def is_valid_entity(entity: str) -> bool:
    return bool(_ENTITY.match(entity))


def permission_matrix(role: Role) -> dict[tuple[str, str], int]:
    """The role's rows as {(entity, action): scope}."""
    return {
        (entity, action): scope
        for entity, action, scope in role.permissions.values_list("entity", "action", "scope")
    }


# --------------------------------------------------------------------- writes: roles


@transaction.atomic
def do_create_role(
    name: str, *, description: str = "", is_default: bool = False, acting_user: User | None = None
) -> Role:
    name = _clean_name(name, "role")
    if Role.objects.filter(name__iexact=name).exists():
        raise RoleError(f"a role named {name!r} already exists")
    return Role.objects.create(name=name, description=description.strip(), is_default=is_default)


@transaction.atomic
def do_update_role(
    role: Role,
    *,
    name: str,
    description: str = "",
    is_default: bool = False,
    acting_user: User | None = None,
) -> Role:
    name = _clean_name(name, "role")
    if Role.objects.filter(name__iexact=name).exclude(pk=role.pk).exists():
        raise RoleError(f"a role named {name!r} already exists")
    role.name, role.description, role.is_default = name, description.strip(), is_default
    role.save(update_fields=["name", "description", "is_default"])
    return role


@transaction.atomic
def do_delete_role(role: Role, *, acting_user: User | None = None) -> None:
    role.delete()


@transaction.atomic
def do_set_role_permissions(
    role: Role, scopes: dict[tuple[str, str], int | None], *, acting_user: User | None = None
) -> int:
    """Set the scopes of the given (entity, action) pairs; others stay. Returns how many
    changed. For a "smart:<slug>" entity, None removes its row so that the role's
    "smart:*" row applies to that type again."""
    valid_actions = set(Action.values)
    for (entity, action), scope in scopes.items():
        if not is_valid_entity(entity):
            raise RoleError(f"unknown entity {entity!r}")
        if action not in valid_actions:
            raise RoleError(f"unknown action {action!r}")
        if scope is not None and scope not in Scope.values:
            raise RoleError(f"unknown scope {scope!r}")
    current = permission_matrix(role)
    changed = 0
    for (entity, action), scope in scopes.items():
        # None means "no row". A "smart:<slug>" row is kept even at NONE: it overrides
        # the role's "smart:*" row for that one type.
        keep_row = entity.startswith("smart:") and entity != ANY_SMART
        wanted = scope if (scope != Scope.NONE or keep_row) else None
        if scope is None:
            wanted = None
        if current.get((entity, action)) == wanted:
            continue
        changed += 1
        if wanted is None:
            role.permissions.filter(entity=entity, action=action).delete()
        else:
            role.permissions.update_or_create(
                entity=entity, action=action, defaults={"scope": wanted}
            )
    return changed


@transaction.atomic
def do_set_user_roles(user: User, roles: Iterable[Role], *, acting_user: User | None = None):
    user.roles.set(list(roles))
    forget_cached_rights(user)


# The roles migration 0005 creates, again in code: a database emptied by a flush (tests
# that truncate tables, a restore of data without them) must not leave new users with
# no CRM at all. The migration stays frozen; this copy is the one that evolves.
DEFAULT_ROLES: dict[str, tuple[str, bool, dict[str, int]]] = {
    "Manager": (
        "Reads the department's items, creates items, edits and deletes their own.",
        True,
        {"read": Scope.DEPARTMENT, "create": Scope.ALL, "edit": Scope.OWN, "delete": Scope.OWN},
    ),
    "Head of department": (
        "Reads, edits and deletes the items of their department.",
        False,
        {
            "read": Scope.DEPARTMENT,
            "create": Scope.ALL,
            "edit": Scope.DEPARTMENT,
            "delete": Scope.DEPARTMENT,
        },
    ),
    "Administrator": (
        "Everything in the CRM.",
        False,
        {"read": Scope.ALL, "create": Scope.ALL, "edit": Scope.ALL, "delete": Scope.ALL},
    ),
}


@transaction.atomic
def ensure_default_roles() -> None:
    """Create the default roles when there are no roles at all (a fresh or flushed
    database); roles an administrator has changed or deleted one by one stay as they are."""
    if Role.objects.exists():
        return
    for name, (description, is_default, scopes) in DEFAULT_ROLES.items():
        role = Role.objects.create(name=name, description=description, is_default=is_default)
        RolePermission.objects.bulk_create(
            RolePermission(role=role, entity=entity, action=action, scope=scope)
            for entity in (*BASE_ENTITIES, ANY_SMART)
            for action, scope in scopes.items()
        )


def do_give_default_roles(user: User) -> None:
    """New users start with the default roles (do_create_user calls this)."""
    ensure_default_roles()
    user.roles.add(*Role.objects.filter(is_default=True))
    forget_cached_rights(user)


# --------------------------------------------------------------------- writes: departments


@transaction.atomic
def do_create_department(
    name: str,
    *,
    head: User | None = None,
    members: Iterable[User] = (),
    acting_user: User | None = None,
) -> Department:
    name = _clean_name(name, "department")
    if Department.objects.filter(name__iexact=name).exists():
        raise RoleError(f"a department named {name!r} already exists")
    if Group.objects.filter(name=name).exists():
        # A bare group of that name (made in Django's admin) becomes the department's.
        group = Group.objects.get(name=name)
        if hasattr(group, "department"):
            raise RoleError(f"the group {name!r} already belongs to a department")
    else:
        group = Group.objects.create(name=name)
    department = Department.objects.create(name=name, group=group, head=head)
    group.user_set.add(*members)
    return department


@transaction.atomic
def do_update_department(
    department: Department,
    *,
    name: str,
    head: User | None,
    acting_user: User | None = None,
) -> Department:
    name = _clean_name(name, "department")
    if Department.objects.filter(name__iexact=name).exclude(pk=department.pk).exists():
        raise RoleError(f"a department named {name!r} already exists")
    if Group.objects.filter(name=name).exclude(pk=department.group_id).exists():
        raise RoleError(f"a group named {name!r} already exists; pick another name")
    department.name, department.head = name, head
    department.save(update_fields=["name", "head"])
    Group.objects.filter(pk=department.group_id).update(name=name)
    return department


@transaction.atomic
def do_set_department_members(
    department: Department, users: Iterable[User], *, acting_user: User | None = None
) -> None:
    department.group.user_set.set(list(users))


@transaction.atomic
def do_set_user_departments(
    user: User, departments: Iterable[Department], *, acting_user: User | None = None
) -> None:
    """Make the user a member of exactly these departments; other groups stay."""
    wanted = {d.group_id for d in departments}
    department_groups = Group.objects.filter(department__isnull=False)
    user.groups.remove(*department_groups.exclude(pk__in=wanted))
    user.groups.add(*Group.objects.filter(pk__in=wanted))
    forget_cached_rights(user)


@transaction.atomic
def do_delete_department(department: Department, *, acting_user: User | None = None) -> None:
    """The department and its group go; mailbox grants to the group go with it."""
    group = department.group
    department.delete()
    group.delete()


def _clean_name(name: str, what: str) -> str:
    name = " ".join((name or "").split())
    if not name:
        raise RoleError(f"a {what} needs a name")
    if len(name) > 100:
        raise RoleError(f"a {what} name has at most 100 characters")
    return name


__all__ = [
    "ANY_SMART",
    "BASE_ENTITIES",
    "Action",
    "RoleError",
    "Rights",
    "Scope",
    "colleague_ids",
    "departments_of",
    "do_create_department",
    "do_create_role",
    "do_delete_department",
    "do_delete_role",
    "do_give_default_roles",
    "ensure_default_roles",
    "do_set_department_members",
    "do_set_role_permissions",
    "do_set_user_departments",
    "do_set_user_roles",
    "do_update_department",
    "do_update_role",
    "forget_cached_rights",
    "is_valid_entity",
    "permission_matrix",
    "rights_of",
    "scope_of",
]
