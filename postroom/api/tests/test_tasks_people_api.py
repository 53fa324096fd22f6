"""Tasks, users and departments through the API."""

from __future__ import annotations

import pytest

from postroom.crm.models import Task
from postroom.testing.factories import (
    DepartmentFactory,
    LeadFactory,
    TaskFactory,
    UserFactory,
    default_role,
)

from .conftest import token_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def anna(db):
    user = UserFactory(username="anna", first_name="Anna", last_name="Berg")
    user.roles.add(default_role("Manager"))
    return user


def test_a_task_on_a_lead_is_made_listed_and_completed(anna):
    lead = LeadFactory(responsible=anna)
    api = token_client(anna)
    made = api.post(
        "/api/v1/tasks/", {"title": "Call back", "item_kind": "lead", "item_id": lead.pk}
    )
    assert made.status_code == 201, made.content
    task = made.json()
    assert task["item_kind"] == "lead" and task["responsible_id"] == anna.pk
    listed = api.get("/api/v1/tasks/", {"item_kind": "lead", "item_id": lead.pk}).json()
    assert [t["id"] for t in listed["items"]] == [task["id"]]
    assert api.post(f"/api/v1/tasks/{task['id']}/complete").json() == {"changed": True}
    assert Task.objects.get(pk=task["id"]).done_at is not None
    assert api.get("/api/v1/tasks/", {"done": "false"}).json()["items"] == []


def test_someone_elses_task_on_an_unreadable_item_is_a_404(anna):
    other = UserFactory(username="olga")
    task = TaskFactory(responsible=other, title="Secret")
    assert token_client(anna).get(f"/api/v1/tasks/{task.pk}").status_code == 404
    assert token_client(anna).post(f"/api/v1/tasks/{task.pk}/complete").status_code == 404


def test_users_and_departments_are_readable_to_colleagues(anna):
    team = DepartmentFactory(name="Sales team", members=[anna])
    api = token_client(anna, "read")
    me = api.get("/api/v1/users/me").json()
    assert me["name"] == "Anna Berg" and me["department_ids"] == [team.pk]
    assert anna.pk in [u["id"] for u in api.get("/api/v1/users/").json()]
    (department,) = [d for d in api.get("/api/v1/departments/").json() if d["id"] == team.pk]
    assert department["member_ids"] == [anna.pk]
    assert api.get(f"/api/v1/departments/{team.pk}").json()["name"] == "Sales team"
    assert api.get("/api/v1/users/999999").status_code == 404
