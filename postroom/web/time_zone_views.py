"""The user's time zone: chosen on the profile, or guessed from the browser once."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import JsonResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from postroom.accounts.timezones import TimeZoneError, do_set_time_zone


@login_required
@require_POST
def time_zone(request):
    """Profile form: save the chosen zone. With guess=1 (timezone.js on the first page
    after login): the browser's zone, saved only while the user has none."""
    guess = request.POST.get("guess") == "1"
    try:
        changed = do_set_time_zone(
            request.user, request.POST.get("time_zone", ""), only_if_unset=guess
        )
    except TimeZoneError as error:
        if guess:
            return JsonResponse({"changed": False, "error": str(error)}, status=400)
        messages.error(request, f"Not saved: {error}.")
        return redirect("web:profile")
    if guess:
        return JsonResponse({"changed": changed, "time_zone": request.user.time_zone})
    messages.success(request, f"Saved: times are shown in {request.user.time_zone}.")
    return redirect("web:profile")
