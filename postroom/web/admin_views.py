"""Administrators manage roles (a matrix of entities x actions -> scope), departments,
and which roles and departments each user has. The writes are postroom/accounts/roles.py's.

Only administrators (is_superuser) reach these pages; anyone else gets 403 with the reason.
"""

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from postroom.accounts import roles as role_service
from postroom.accounts.models import Department, Role
from postroom.accounts.people import active_people
from postroom.accounts.roles import ANY_SMART, BASE_ENTITIES, Action, RoleError, Scope
from postroom.crm.models import SmartType

_ENTITY_LABELS = {"lead": "Leads", "contact": "Contacts", "company": "Companies", "deal": "Deals"}
# For a smart type's own row: no row, so the "Other smart types" row applies.
INHERIT = ""


def admin_view(view: Callable) -> Callable:
    @login_required
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_superuser:
            raise PermissionDenied("Only administrators manage roles, departments and people.")
        return view(request, *args, **kwargs)

    return wrapper


# --------------------------------------------------------------------- roles


@dataclass(frozen=True)
class MatrixCell:
    name: str  # the form field: "<entity>|<action>"
    action: str
    choices: list[tuple[str, str]]
    value: str


@dataclass(frozen=True)
class MatrixRow:
    entity: str
    label: str
    cells: list[MatrixCell]


def _matrix_entities() -> list[tuple[str, str]]:
    entities = [(entity, _ENTITY_LABELS[entity]) for entity in BASE_ENTITIES]
    entities += [(f"smart:{t.slug}", f"{t.name} (smart type)") for t in SmartType.objects.all()]
    entities.append((ANY_SMART, "Other smart types (and new ones)"))
    return entities


def _choices(entity: str, action: str) -> list[tuple[str, str]]:
    if action == Action.CREATE:
        # Creating has no reach: a user may create items or not.
        choices = [(str(Scope.NONE), "No"), (str(Scope.ALL), "Yes")]
    else:
        choices = [(str(value), label) for value, label in Scope.choices]
    if entity.startswith("smart:") and entity != ANY_SMART:
        choices.insert(0, (INHERIT, "As other smart types"))
    return choices


def _matrix(role: Role) -> list[MatrixRow]:
    current = role_service.permission_matrix(role)
    rows = []
    for entity, label in _matrix_entities():
        inherits = entity.startswith("smart:") and entity != ANY_SMART
        cells = []
        for action in Action.values:
            scope = current.get((entity, action))
            if scope is None:
                value = INHERIT if inherits else str(Scope.NONE)
            elif action == Action.CREATE:
                value = str(Scope.ALL if scope > Scope.NONE else Scope.NONE)
            else:
                value = str(scope)
            cells.append(MatrixCell(f"{entity}|{action}", action, _choices(entity, action), value))
        rows.append(MatrixRow(entity, label, cells))
    return rows


def _posted_scopes(data) -> dict[tuple[str, str], int | None]:
    """The matrix as posted; a value outside a cell's choices is an error, not a guess."""
    scopes: dict[tuple[str, str], int | None] = {}
    for entity, _label in _matrix_entities():
        for action in Action.values:
            name = f"{entity}|{action}"
            if name not in data:
                continue
            value = data[name]
            if value not in {v for v, _ in _choices(entity, action)}:
                raise RoleError(f"{value!r} is not a choice for {action} on {entity}")
            scopes[(entity, action)] = None if value == INHERIT else int(value)
    return scopes


class RoleForm(forms.Form):
    name = forms.CharField(max_length=100)
    description = forms.CharField(max_length=300, required=False)
    is_default = forms.BooleanField(required=False, label="Given to new users")


@admin_view
def role_list(request):
    form = RoleForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            role = role_service.do_create_role(**form.cleaned_data, acting_user=request.user)
        except RoleError as exc:
            form.add_error("name", str(exc))
        else:
            messages.success(request, f"Role “{role.name}” created: now set its rights.")
            return redirect("web:role", role.pk)
    roles = Role.objects.prefetch_related("users")
    return render(request, "accounts/role_list.html", {"roles": roles, "form": form})


@admin_view
def role_detail(request, role_id: int):
    role = get_object_or_404(Role, pk=role_id)
    form = RoleForm(
        request.POST or None,
        initial={"name": role.name, "description": role.description, "is_default": role.is_default},
    )
    if request.method == "POST" and form.is_valid():
        try:
            scopes = _posted_scopes(request.POST)
            role_service.do_update_role(role, **form.cleaned_data, acting_user=request.user)
            changed = role_service.do_set_role_permissions(role, scopes, acting_user=request.user)
        except RoleError as exc:
            messages.error(request, f"Not saved: {exc}")
        else:
            messages.success(request, f"Saved “{role.name}”: {changed} right(s) changed.")
            return redirect("web:role", role.pk)
    return render(
        request,
        "accounts/role_detail.html",
        {
            "role": role,
            "form": form,
            "matrix": _matrix(role),
            "actions": Action.choices,
            "users": role.users.order_by("username"),
        },
    )


@admin_view
@require_POST
def role_delete(request, role_id: int):
    role = get_object_or_404(Role, pk=role_id)
    role_service.do_delete_role(role, acting_user=request.user)
    messages.success(request, f"Role “{role.name}” deleted.")
    return redirect("web:roles")


# --------------------------------------------------------------------- departments


class DepartmentForm(forms.Form):
    name = forms.CharField(max_length=100)
    head = forms.ModelChoiceField(queryset=None, required=False, empty_label="No head")
    members = forms.ModelMultipleChoiceField(
        queryset=None, required=False, widget=forms.CheckboxSelectMultiple
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        people = active_people()
        self.fields["head"].queryset = people
        self.fields["members"].queryset = people


@admin_view
def department_list(request):
    form = DepartmentForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            department = role_service.do_create_department(
                data["name"], head=data["head"], members=data["members"], acting_user=request.user
            )
        except RoleError as exc:
            form.add_error("name", str(exc))
        else:
            messages.success(request, f"Department “{department.name}” created.")
            return redirect("web:departments")
    departments = Department.objects.select_related("head", "group").prefetch_related(
        "group__user_set"
    )
    return render(
        request, "accounts/department_list.html", {"departments": departments, "form": form}
    )


@admin_view
def department_detail(request, department_id: int):
    department = get_object_or_404(Department.objects.select_related("group"), pk=department_id)
    form = DepartmentForm(
        request.POST or None,
        initial={
            "name": department.name,
            "head": department.head_id,
            "members": list(department.members.values_list("pk", flat=True)),
        },
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            role_service.do_update_department(
                department, name=data["name"], head=data["head"], acting_user=request.user
            )
            role_service.do_set_department_members(
                department, data["members"], acting_user=request.user
            )
        except RoleError as exc:
            form.add_error("name", str(exc))
        else:
            messages.success(request, f"Saved “{department.name}”.")
            return redirect("web:department", department.pk)
    return render(
        request, "accounts/department_detail.html", {"department": department, "form": form}
    )


@admin_view
@require_POST
def department_delete(request, department_id: int):
    department = get_object_or_404(Department, pk=department_id)
    role_service.do_delete_department(department, acting_user=request.user)
    messages.success(request, f"Department “{department.name}” deleted.")
    return redirect("web:departments")


# People (the list, a person's roles and departments, adding and deactivating) are in
# postroom/web/people_views.py.
