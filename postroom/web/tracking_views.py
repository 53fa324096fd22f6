"""Tracking's page actions: a recipient's opt-out (from a CRM item's page) and the
Undo of a trigger's stage change (from the item's timeline)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.http import HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from postroom.crm.access import CrmPermissionDenied
from postroom.crm.items import url_of
from postroom.tracking import triggers
from postroom.tracking.models import TriggerFiring
from postroom.tracking.switches import do_set_opt_out

from .crm_views import denied


@login_required
@require_POST
def tracking_opt_out(request):
    address = request.POST.get("address", "").strip()
    try:
        validate_email(address)
    except ValidationError:
        return HttpResponseBadRequest("not an email address")
    track = bool(request.POST.get("track"))
    do_set_opt_out(address, not track, acting_user=request.user)
    state = "tracked again" if track else "no longer tracked"
    messages.success(request, f"Emails to {address} are {state}.")
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(back, {request.get_host()}):
        back = "/"
    return redirect(back)


@login_required
@require_POST
def trigger_undo(request, firing_id: int):
    """Undo a stage change a tracking trigger made (from the item's timeline)."""
    firing = get_object_or_404(TriggerFiring, pk=firing_id)
    item = triggers.item_of(firing)
    try:
        triggers.do_undo_firing(firing, acting_user=request.user)
    except CrmPermissionDenied as exc:
        return denied(request, exc.reason)
    except ValidationError as exc:
        for reason in exc.messages:
            messages.error(request, reason)
    else:
        messages.success(request, f"Moved back to {firing.from_stage.name}.")
    return redirect(url_of(item) if item is not None else "/")
