"""Mailboxes: read; their settings and grants with the manage right; folders and sync
state. The rules of the mailbox pages (web/shared_mailbox_views.py): reading needs a
grant (else 404), settings and grants the manage right (else 403), a personal mailbox
has neither; changes go through mailboxes.actions."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction
from django.shortcuts import get_object_or_404
from ninja import Router, Schema, Status
from pydantic import Field

from postroom.mailboxes.access import mailboxes_for
from postroom.mailboxes.actions import (
    LOCAL_FOLDERS,
    MailboxError,
    SyncSettings,
    do_request_sync,
    do_revoke_grant,
    do_set_grant,
    do_update_mailbox_settings,
)
from postroom.mailboxes.models import Mailbox, MailboxGrant
from postroom.web.access import get_mailbox_for_user

from ..errors import ApiError, responses
from .common import caller

router = Router(tags=["mailboxes"])

LEVELS = {"read": MailboxGrant.Level.READ, "reply": MailboxGrant.Level.REPLY}
LEVELS["manage"] = MailboxGrant.Level.MANAGE
LEVEL_NAMES = {v: k for k, v in LEVELS.items()}
LevelName = Literal["read", "reply", "manage"]


class MailboxOut(Schema):
    id: int
    name: str
    address: str
    kind: str
    status: str
    status_message: str
    last_synced_at: datetime | None
    your_right: LevelName = Field(..., description="what you may do: read, reply or manage")


class FolderOut(Schema):
    id: int
    name: str
    role: str
    is_synced: bool
    uidvalidity: int | None
    last_uid: int
    highest_modseq: int | None
    backfill_total: int
    backfill_done: int
    sync_requested_at: datetime | None


class SettingsOut(Schema):
    name: str
    initial_days: int
    poll_interval: int | None
    allow_self_signed: bool


class SettingsIn(Schema):
    name: str | None = None
    initial_days: int | None = None
    poll_interval: int | None = Field(None, description="seconds; null: the default")
    allow_self_signed: bool | None = None


class GrantOut(Schema):
    id: int
    user_id: int | None
    department_group_id: int | None
    level: LevelName


class GrantIn(Schema):
    user_id: int | None = None
    group_id: int | None = Field(None, description="a department's group (departments' group_id)")
    level: LevelName


def _rights(user) -> dict[int, int]:
    rights: dict[int, int] = {}
    for level in (MailboxGrant.Level.READ, MailboxGrant.Level.REPLY, MailboxGrant.Level.MANAGE):
        for pk in mailboxes_for(user, level).values_list("pk", flat=True):
            rights[pk] = level
    return rights


def mailbox_out(mailbox: Mailbox, right: int) -> dict:
    return {
        "id": mailbox.pk,
        "name": mailbox.name,
        "address": mailbox.address,
        "kind": mailbox.kind,
        "status": mailbox.status,
        "status_message": mailbox.status_message,
        "last_synced_at": mailbox.last_synced_at,
        "your_right": LEVEL_NAMES[right],
    }


def _managed(user, mailbox_id: int) -> Mailbox:
    mailbox = get_mailbox_for_user(user, mailbox_id, MailboxGrant.Level.MANAGE)
    if mailbox.kind == Mailbox.Kind.PERSONAL:
        raise ApiError(409, "a personal mailbox is its owner's alone: no shared settings or grants")
    return mailbox


@router.get("/", response=responses(200, list[MailboxOut]), summary="List mailboxes")
def list_mailboxes(request):
    """The mailboxes you may read, with your right on each."""
    user = caller(request)
    rights = _rights(user)
    return [mailbox_out(m, rights[m.pk]) for m in mailboxes_for(user).order_by("name", "pk")]


@router.get("/{int:mailbox_id}", response=responses(200, MailboxOut), summary="Read a mailbox")
def read_mailbox(request, mailbox_id: int):
    user = caller(request)
    mailbox = get_mailbox_for_user(user, mailbox_id)
    return mailbox_out(mailbox, _rights(user)[mailbox.pk])


@router.get(
    "/{int:mailbox_id}/folders",
    response=responses(200, list[FolderOut]),
    summary="Folders and their sync state",
)
def list_folders(request, mailbox_id: int):
    """Each folder, whether it syncs and where its sync stands. Needs the manage right,
    as the Folders page."""
    mailbox = get_mailbox_for_user(caller(request), mailbox_id, MailboxGrant.Level.MANAGE)
    folders = mailbox.folders.exclude(name__in=LOCAL_FOLDERS).order_by("name")
    return list(folders)


@router.post("/{int:mailbox_id}/sync", response=responses(202, dict), summary="Check for mail now")
def request_sync(request, mailbox_id: int):
    """Ask the sync worker to check the mailbox now (anyone who reads it may)."""
    mailbox = get_mailbox_for_user(caller(request), mailbox_id)
    folders = do_request_sync(mailbox) if mailbox.has_imap else 0
    return Status(202, {"folders": folders})


def _settings_out(mailbox: Mailbox) -> dict:
    return {
        "name": mailbox.name,
        "initial_days": mailbox.initial_days,
        "poll_interval": mailbox.poll_interval,
        "allow_self_signed": mailbox.allow_self_signed,
    }


@router.get(
    "/{int:mailbox_id}/settings", response=responses(200, SettingsOut), summary="Read settings"
)
def read_settings(request, mailbox_id: int):
    """Needs the manage right."""
    return _settings_out(_managed(caller(request), mailbox_id))


@router.patch(
    "/{int:mailbox_id}/settings", response=responses(200, SettingsOut), summary="Change settings"
)
def change_settings(request, mailbox_id: int, data: SettingsIn):
    """Name and sync settings; fields left out stay. Needs the manage right."""
    user = caller(request)
    mailbox = _managed(user, mailbox_id)
    given = data.dict(exclude_unset=True)
    choices = SyncSettings(
        name=given["name"] if given.get("name") is not None else mailbox.name,
        initial_days=(
            given["initial_days"] if given.get("initial_days") is not None else mailbox.initial_days
        ),
        poll_interval=given.get("poll_interval", mailbox.poll_interval),
        allow_self_signed=(
            given["allow_self_signed"]
            if given.get("allow_self_signed") is not None
            else mailbox.allow_self_signed
        ),
    )
    try:
        with transaction.atomic():
            mailbox = do_update_mailbox_settings(mailbox, choices, acting_user=user)
    except MailboxError as exc:
        raise ApiError(422, str(exc), code="invalid") from None
    return _settings_out(mailbox)


def grant_out(grant: MailboxGrant) -> dict:
    return {
        "id": grant.pk,
        "user_id": grant.user_id,
        "department_group_id": grant.group_id,
        "level": LEVEL_NAMES[grant.level],
    }


@router.get(
    "/{int:mailbox_id}/grants", response=responses(200, list[GrantOut]), summary="List grants"
)
def list_grants(request, mailbox_id: int):
    """Who may use the mailbox, at which level. Needs the manage right."""
    mailbox = _managed(caller(request), mailbox_id)
    return [grant_out(g) for g in mailbox.grants.order_by("-level", "pk")]


@router.put("/{int:mailbox_id}/grants", response=responses(200, GrantOut), summary="Grant access")
def set_grant(request, mailbox_id: int, data: GrantIn):
    """Give a person (user_id) or a department (group_id) a level, or change theirs.
    Needs the manage right."""
    user = caller(request)
    mailbox = _managed(user, mailbox_id)
    person = group = None
    if data.user_id is not None:
        person = get_user_model().objects.filter(pk=data.user_id).first()
        if person is None:
            raise ApiError(422, "no such user", code="invalid", field="user_id")
    if data.group_id is not None:
        group = Group.objects.filter(pk=data.group_id).first()
        if group is None:
            raise ApiError(422, "no such group", code="invalid", field="group_id")
    try:
        grant = do_set_grant(
            mailbox, level=LEVELS[data.level], acting_user=user, user=person, group=group
        )
    except MailboxError as exc:
        raise ApiError(422, str(exc), code="invalid") from None
    return grant_out(grant)


@router.delete(
    "/{int:mailbox_id}/grants/{int:grant_id}",
    response=responses(204, None),
    summary="Take access away",
)
def revoke_grant(request, mailbox_id: int, grant_id: int):
    user = caller(request)
    mailbox = _managed(user, mailbox_id)
    grant = get_object_or_404(mailbox.grants.select_related("user", "group"), pk=grant_id)
    try:
        do_revoke_grant(grant, acting_user=user)
    except MailboxError as exc:
        raise ApiError(409, str(exc), code="conflict") from None
    return Status(204, None)
