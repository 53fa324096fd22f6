"""Tasks: yours, or those of a CRM item you may read; create one (on an item you may
edit); complete one. The rules of the CRM pages' task forms (web/crm_views.py)."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Q
from django.shortcuts import get_object_or_404
from ninja import Query, Router, Schema, Status
from pydantic import Field

from postroom.crm import actions
from postroom.crm.access import check_edit, items_for
from postroom.crm.items import content_type_of, kind_of
from postroom.crm.models import Task

from ..errors import ApiError, responses
from ..pagination import DEFAULT_LIMIT, MAX_LIMIT, page_asc_pk
from .common import Ok, Page, caller, item_model
from .crm import _person

router = Router(tags=["tasks"])


class TaskOut(Schema):
    id: int
    title: str
    responsible_id: int | None
    created_by_id: int | None
    deadline: datetime | None
    done_at: datetime | None
    item_kind: str | None
    item_id: int | None
    created_at: datetime


class TaskFilters(Schema):
    item_kind: str | None = Field(None, description="with item_id: the tasks of that item")
    item_id: int | None = None
    done: bool | None = Field(None, description="true: done ones, false: open ones")
    cursor: str | None = None
    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)


class TaskIn(Schema):
    title: str = Field(..., min_length=1, max_length=500)
    item_kind: str | None = None
    item_id: int | None = None
    responsible_id: int | None = Field(None, description="default: you")
    deadline: datetime | None = None


def task_out(task: Task) -> dict:
    model = task.content_type.model_class() if task.content_type_id else None
    return {
        "id": task.pk,
        "title": task.title,
        "responsible_id": task.responsible_id,
        "created_by_id": task.created_by_id,
        "deadline": task.deadline,
        "done_at": task.done_at,
        "item_kind": kind_of(model).key if model is not None else None,
        "item_id": task.object_id,
        "created_at": task.created_at,
    }


def _item(user, kind: str | None, pk: int | None):
    if (kind is None) != (pk is None):
        raise ApiError(422, "item_kind and item_id go together", code="invalid", field="item_id")
    if kind is None:
        return None
    item = items_for(user, item_model(kind)).filter(pk=pk).first()
    if item is None:
        raise ApiError(404, "no such CRM item, or not yours to read", field="item_id")
    return item


def _readable_task(user, task_id: int) -> Task:
    """As the task's Done button: a task of an item the user may read, or their own."""
    task = get_object_or_404(Task.objects.select_related("content_type"), pk=task_id)
    if task.responsible_id == user.pk or task.created_by_id == user.pk:
        return task
    item = task.item
    if item is None or not items_for(user, type(item)).filter(pk=item.pk).exists():
        raise ApiError(404, "not found, or not yours to see")
    return task


@router.get("/", response=responses(200, Page[TaskOut]), summary="List tasks")
def list_tasks(request, filters: Query[TaskFilters]):
    """Without an item: the tasks you are responsible for or gave."""
    user = caller(request)
    item = _item(user, filters.item_kind, filters.item_id)
    tasks = Task.objects.select_related("content_type")
    if item is not None:
        tasks = tasks.filter(content_type=content_type_of(item), object_id=item.pk)
    else:
        tasks = tasks.filter(Q(responsible=user) | Q(created_by=user))
    if filters.done is not None:
        tasks = tasks.filter(done_at__isnull=not filters.done)
    rows, next_cursor = page_asc_pk(tasks, filters.cursor, filters.limit)
    return {"items": [task_out(t) for t in rows], "next_cursor": next_cursor}


@router.get("/{int:task_id}", response=responses(200, TaskOut), summary="Read a task")
def read_task(request, task_id: int):
    return task_out(_readable_task(caller(request), task_id))


@router.post("/", response=responses(201, TaskOut), summary="Create a task")
def create_task(request, data: TaskIn):
    """On a CRM item (needs the edit right on it) or on nothing."""
    user = caller(request)
    item = _item(user, data.item_kind, data.item_id)
    if item is not None:
        check_edit(user, item)
    try:
        task = actions.do_create_task(
            data.title,
            item=item,
            responsible=_person(data.responsible_id) or user,
            deadline=data.deadline,
            user=user,
        )
    except actions.CrmError as exc:
        raise ApiError(422, str(exc), code="invalid", field="title") from None
    return Status(201, task_out(task))


@router.post("/{int:task_id}/complete", response=responses(200, Ok), summary="Complete a task")
def complete_task(request, task_id: int):
    """Its responsible person, its author or whoever may edit its item may."""
    user = caller(request)
    task = _readable_task(user, task_id)
    return {"changed": actions.do_complete_task(task, user=user)}
