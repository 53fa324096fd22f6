"""Stage triggers: "when the client opens (or clicks) an email of an item in this
stage, move the item to stage X" (issue 16, point 4).

Defined per stage of a pipeline (deals) or of a smart type (its items) by an
administrator in the pipeline or smart type editor. A trigger fires once per email and
item (TriggerFiring's unique key), only for a real open or click (never a prefetch:
events.record calls `fire` for those alone), writes the stage change on the item's
timeline with the event that caused it, and a person who may edit the item can undo it
from there.

The endpoints call `fire` on every real event, so whether any trigger exists at all is
remembered per process for TRIGGERS_SEEN_FOR seconds: without triggers an event costs
no CRM query. A trigger saved in another process takes effect within that time.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from datetime import datetime

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from postroom.crm import actions as crm_actions
from postroom.crm import pipelines
from postroom.crm.access import check_edit
from postroom.crm.models import Activity, Deal, Pipeline, SmartItem, SmartType, Stage, TimelineEntry
from postroom.outbound.models import OutboxMessage

from .models import StageTrigger, TrackingEvent, TriggerFiring

logger = logging.getLogger(__name__)
On = StageTrigger.On
TRIGGERS_SEEN_FOR = 5.0
_seen: tuple[float, frozenset[str]] = (0.0, frozenset())


def _kinds_with_triggers() -> frozenset[str]:
    global _seen
    now = time.monotonic()
    if now - _seen[0] > TRIGGERS_SEEN_FOR:
        kinds = frozenset(StageTrigger.objects.values_list("on", flat=True).distinct())
        _seen = (now, kinds)
    return _seen[1]


def forget_seen() -> None:
    """After a change of triggers in this process: look again at the next event."""
    global _seen
    _seen = (0.0, frozenset())


# ------------------------------------------------------------------------ editing


def stages_of(owner: Pipeline | SmartType) -> list[Stage]:
    if isinstance(owner, Pipeline):
        return list(Stage.objects.filter(pipeline=owner))
    return list(Stage.objects.filter(smart_type=owner))


def triggers_of(owner: Pipeline | SmartType) -> dict[tuple[int, str], int]:
    """{(stage id, "open"/"click"): the stage id to move to} of a pipeline or smart type."""
    ids = [s.pk for s in stages_of(owner)]
    rows = StageTrigger.objects.filter(stage_id__in=ids).values_list("stage_id", "on", "move_to_id")
    return {(stage, on): move_to for stage, on, move_to in rows}


@transaction.atomic
def do_save_triggers(
    owner: Pipeline | SmartType, wanted: Mapping[tuple[int, str], int | None], *, acting_user
) -> int:
    """Set the triggers of a pipeline's or smart type's stages: {(stage id, kind): stage
    id to move to, or None for none}. Both stages must be the owner's and differ.
    Returns how many triggers there are now."""
    pipelines.check_admin(acting_user)
    own = {s.pk: s for s in stages_of(owner)}
    for (stage_id, on), move_to in wanted.items():
        if on not in On.values:
            raise ValidationError(f"A trigger fires on an open or a click, not on {on!r}.")
        if stage_id not in own or (move_to is not None and move_to not in own):
            raise ValidationError(f"A stage that is not of {owner} was named; reload the page.")
        if move_to == stage_id:
            raise ValidationError(
                f"“{own[stage_id].name}” cannot move its items to itself: choose another stage."
            )
        if move_to is None:
            StageTrigger.objects.filter(stage_id=stage_id, on=on).delete()
        else:
            StageTrigger.objects.update_or_create(
                stage_id=stage_id, on=on, defaults={"move_to_id": move_to}
            )
    transaction.on_commit(forget_seen)
    forget_seen()
    return StageTrigger.objects.filter(stage_id__in=own).count()


# ------------------------------------------------------------------------ firing


def _items_of_email(email_id: int) -> list[Deal | SmartItem]:
    """The deals and smart items on whose timeline the sent email is."""
    message_id = (
        OutboxMessage.objects.filter(pk=email_id)
        .values_list("stored_message_id", flat=True)
        .first()
    )
    activity = Activity.objects.filter(message_id=message_id).first() if message_id else None
    if activity is None:
        return []
    return [i for i in crm_actions.items_of(activity) if isinstance(i, Deal | SmartItem)]


def fire(email_id: int, kind: str, *, recipient: str, at: datetime) -> list[TriggerFiring]:
    """Move the email's items whose stage has a trigger on this kind of event; each
    trigger once per email and item. Called for real opens and clicks only."""
    if kind not in _kinds_with_triggers():
        return []
    fired = []
    for item in _items_of_email(email_id):
        trigger = (
            StageTrigger.objects.filter(stage_id=item.stage_id, on=kind)
            .select_related("stage", "move_to")
            .first()
        )
        if trigger is not None:
            firing = _fire_one(trigger, item, email_id, kind, recipient, at)
            if firing is not None:
                fired.append(firing)
    return fired


def _reason(kind: str, recipient: str, email_id: int) -> str:
    subject = OutboxMessage.objects.filter(pk=email_id).values_list("subject", flat=True).first()
    did = "opened" if kind == On.OPEN else "clicked a link in"
    return f"{recipient} {did} “{subject or '(no subject)'}”"


def _fire_one(trigger, item, email_id, kind, recipient, at) -> TriggerFiring | None:
    model = type(item)
    try:
        with transaction.atomic():
            # The item as stored, locked: a person moving it meanwhile wins.
            item = model.objects.select_for_update().select_related("stage").get(pk=item.pk)
            if item.stage_id != trigger.stage_id:
                return None
            event = (
                TrackingEvent.objects.filter(email_id=email_id, recipient=recipient, kind=kind)
                .order_by("-at", "-pk")
                .first()
            )
            firing = TriggerFiring.objects.create(
                trigger=trigger, stage=trigger.stage, email_id=email_id,
                content_type=ContentType.objects.get_for_model(model), object_id=item.pk,
                kind=kind, recipient=recipient, event=event, at=at,
                from_stage=trigger.stage, to_stage=trigger.move_to,
            )  # fmt: skip
            target = trigger.move_to
            item.stage = target
            item.closed_at = None if target.is_open else timezone.now()
            item.save(update_fields=["stage", "closed_at"])
            # crm.actions.do_move_stage asks for a person who may edit; a trigger is the
            # administrator's rule acting, so the entry is written here, author-less.
            firing.entry = TimelineEntry.objects.create(
                content_type=firing.content_type, object_id=item.pk,
                kind=TimelineEntry.Kind.STAGE, occurred_at=at,
                text=f"{trigger.stage.name} → {target.name} (trigger: "
                f"{_reason(kind, recipient, email_id)})",
            )  # fmt: skip
            firing.save(update_fields=["entry"])
    except IntegrityError:
        return None  # fired for this email already (or at the same moment, elsewhere)
    logger.info("trigger %s moved %s %s on %s of email %s", trigger.pk, model.__name__,
                item.pk, kind, email_id)  # fmt: skip
    return firing


# ------------------------------------------------------------------------ undo


class UndoRefused(ValidationError):
    pass


def item_of(firing: TriggerFiring) -> Deal | SmartItem | None:
    model = firing.content_type.model_class()
    return model.objects.filter(pk=firing.object_id).first() if model else None


def do_undo_firing(firing: TriggerFiring, *, acting_user) -> Deal | SmartItem:
    """Move the item back to the stage it had before the trigger, by a person who may
    edit it; the stage change is on its timeline under their name. The trigger does
    not fire again for that email."""
    item = item_of(firing)
    if item is None:
        raise UndoRefused("The item is gone.")
    check_edit(acting_user, item)
    with transaction.atomic():
        firing = TriggerFiring.objects.select_for_update().get(pk=firing.pk)
        if firing.undone_at is not None:
            raise UndoRefused("This move was undone already.")
        if firing.from_stage is None:
            raise UndoRefused("The stage it came from was removed.")
        item = type(item).objects.select_for_update().get(pk=item.pk)
        if item.stage_id != firing.to_stage_id:
            raise UndoRefused(
                f"It has been moved since (it is in “{item.stage.name}” now): move it by hand."
            )
        crm_actions.do_move_stage(item, firing.from_stage, user=acting_user)
        firing.undone_at, firing.undone_by = timezone.now(), acting_user
        firing.save(update_fields=["undone_at", "undone_by"])
    return item
