"""The administrators' webhook pages: subscriptions, their deliveries, test and resend.

Thin: every write is an action of postroom/webhooks/actions.py. Only administrators
(superusers) reach these pages; anyone else gets 403 with the reason.
"""

import json
from collections.abc import Callable
from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from . import actions
from .actions import SubscriptionError
from .events import EVENTS
from .forms import EditSubscriptionForm, SubscriptionForm
from .models import Delivery, Subscription

LOG_PAGE = 50


def admin_view(view: Callable) -> Callable:
    @login_required
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        actions.check_admin(request.user)
        return view(request, *args, **kwargs)

    return wrapper


def _with_counts(subscriptions):
    return subscriptions.annotate(
        waiting=Count("deliveries", filter=Q(deliveries__status=Delivery.Status.PENDING)),
        failed=Count("deliveries", filter=Q(deliveries__status=Delivery.Status.FAILED)),
    )


def _secret_page(request, subscription: Subscription, secret: str, made: bool):
    return render(
        request,
        "webhooks/secret.html",
        {"subscription": subscription, "secret": secret, "made": made, "section": "webhooks"},
    )


@admin_view
def subscription_list(request):
    form = SubscriptionForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            subscription, secret = actions.do_create_subscription(
                form.cleaned_data["url"],
                form.cleaned_data["events"],
                description=form.cleaned_data["description"],
                acting_user=request.user,
            )
        except SubscriptionError as exc:
            form.add_error("url", str(exc))
        else:
            return _secret_page(request, subscription, secret, made=True)
    subscriptions = _with_counts(Subscription.objects.all())
    return render(
        request,
        "webhooks/list.html",
        {"subscriptions": subscriptions, "form": form, "section": "webhooks"},
        status=400 if form.errors else 200,
    )


@admin_view
def subscription_detail(request, subscription_id: int):
    subscription = get_object_or_404(Subscription, pk=subscription_id)
    initial = {
        "url": subscription.url,
        "events": subscription.events,
        "description": subscription.description,
        "is_active": subscription.is_active,
    }
    form = EditSubscriptionForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            actions.do_update_subscription(
                subscription, **form.cleaned_data, acting_user=request.user
            )
        except SubscriptionError as exc:
            form.add_error("url", str(exc))
        else:
            messages.success(request, "Saved.")
            return redirect("webhooks:subscription", subscription.pk)
    status = request.GET.get("status", "")
    log = subscription.deliveries.all()
    if status in Delivery.Status.values:
        log = log.filter(status=status)
    page = Paginator(log.defer("body"), LOG_PAGE).get_page(request.GET.get("page"))
    return render(
        request,
        "webhooks/detail.html",
        {
            "subscription": subscription,
            "form": form,
            "page": page,
            "status": status,
            "statuses": Delivery.Status.choices,
            "section": "webhooks",
            "events": EVENTS,
        },
        status=400 if form.errors else 200,
    )


@require_POST
@admin_view
def subscription_switch(request, subscription_id: int):
    subscription = get_object_or_404(Subscription, pk=subscription_id)
    on = request.POST.get("on") == "1"
    actions.do_set_active(subscription, on, acting_user=request.user)
    messages.success(request, "Switched on." if on else "Switched off: no events are delivered.")
    return redirect("webhooks:subscription", subscription.pk)


@require_POST
@admin_view
def subscription_secret(request, subscription_id: int):
    subscription = get_object_or_404(Subscription, pk=subscription_id)
    secret = actions.do_new_secret(subscription, acting_user=request.user)
    return _secret_page(request, subscription, secret, made=False)


@require_POST
@admin_view
def subscription_test(request, subscription_id: int):
    subscription = get_object_or_404(Subscription, pk=subscription_id)
    try:
        actions.do_send_test(subscription, acting_user=request.user)
    except SubscriptionError as exc:
        messages.error(request, f"Not sent: {exc}.")
    else:
        messages.success(request, "Test event queued: its delivery is at the top of the log.")
    return redirect("webhooks:subscription", subscription.pk)


@admin_view
def delivery_detail(request, delivery_id: int):
    delivery = get_object_or_404(Delivery.objects.select_related("subscription"), pk=delivery_id)
    try:
        body = json.dumps(json.loads(delivery.body), indent=2, ensure_ascii=False)
    except ValueError:
        body = delivery.body
    return render(
        request,
        "webhooks/delivery.html",
        {
            "delivery": delivery,
            "body": body,
            "attempts": delivery.attempt_log.all()[:100],
            "section": "webhooks",
        },
    )


@require_POST
@admin_view
def delivery_again(request, delivery_id: int):
    delivery = get_object_or_404(Delivery.objects.select_related("subscription"), pk=delivery_id)
    try:
        actions.do_send_again(delivery, acting_user=request.user)
    except SubscriptionError as exc:
        messages.error(request, f"Not sent again: {exc}.")
    else:
        messages.success(request, f"{delivery.event} queued to be sent again.")
    back = request.POST.get("back") == "delivery"
    if back:
        return redirect("webhooks:delivery", delivery.pk)
    return redirect("webhooks:subscription", delivery.subscription_id)
