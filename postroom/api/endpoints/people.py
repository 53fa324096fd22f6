"""Users and departments, read only: the colleagues a program assigns work to (as the
UI's people pickers show them to everyone logged in). Administration of people stays
in the UI."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from ninja import Router, Schema

from postroom.accounts.models import Department, User

from ..errors import responses
from .common import caller

router = Router(tags=["people"])


class UserOut(Schema):
    id: int
    username: str
    name: str
    email: str
    is_active: bool
    is_admin: bool
    department_ids: list[int]


class DepartmentOut(Schema):
    id: int
    name: str
    group_id: int
    head_id: int | None
    member_ids: list[int]


def _departments_by_group() -> dict[int, int]:
    return dict(Department.objects.values_list("group_id", "pk"))


def user_out(user: User, departments: dict[int, int]) -> dict:
    return {
        "id": user.pk,
        "username": user.username,
        "name": user.get_full_name() or user.username,
        "email": user.email,
        "is_active": user.is_active,
        "is_admin": user.is_superuser,
        "department_ids": sorted(
            departments[g.pk] for g in user.groups.all() if g.pk in departments
        ),
    }


@router.get("/users/", response=responses(200, list[UserOut]), summary="List users")
def list_users(request):
    departments = _departments_by_group()
    users = User.objects.prefetch_related("groups").order_by("username")
    return [user_out(u, departments) for u in users]


@router.get("/users/me", response=responses(200, UserOut), summary="Who you are")
def me(request):
    return user_out(caller(request), _departments_by_group())


@router.get("/users/{int:user_id}", response=responses(200, UserOut), summary="Read a user")
def read_user(request, user_id: int):
    return user_out(get_object_or_404(User, pk=user_id), _departments_by_group())


def department_out(d: Department) -> dict:
    return {
        "id": d.pk,
        "name": d.name,
        "group_id": d.group_id,
        "head_id": d.head_id,
        "member_ids": sorted(u.pk for u in d.group.user_set.all()),
    }


@router.get(
    "/departments/", response=responses(200, list[DepartmentOut]), summary="List departments"
)
def list_departments(request):
    departments = Department.objects.select_related("group").prefetch_related("group__user_set")
    return [department_out(d) for d in departments.order_by("name")]


@router.get(
    "/departments/{int:department_id}",
    response=responses(200, DepartmentOut),
    summary="Read a department",
)
def read_department(request, department_id: int):
    return department_out(
        get_object_or_404(Department.objects.select_related("group"), pk=department_id)
    )
