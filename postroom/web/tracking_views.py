"""Tracking's page actions: a recipient's opt-out (from a CRM item's page)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.http import HttpResponseBadRequest
from django.shortcuts import redirect
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from postroom.tracking.switches import do_set_opt_out


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
