"""Logging in: the password, then the code of a user's authenticator; and a user's own
page to set up, replace or turn off that second factor.

Failed logins are throttled by django-axes (accounts.throttle): a wrong code counts as a
failed login of the account, like a wrong password. The admin logs in here too.
"""

from __future__ import annotations

import time
from urllib.parse import urlencode

from django import forms
from django.contrib import auth, messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.signals import user_login_failed
from django.http import HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST
from django_otp import login as otp_login

from postroom.accounts.models import User
from postroom.accounts.throttle import lockout_of
from postroom.twofactor import actions as twofactor

PENDING = "postroom_2fa_pending"
PENDING_SECONDS = 300  # the password step is good for this long


class LoginView(auth_views.LoginView):
    """Django's login, which logs in at once only a user without a second factor."""

    def form_valid(self, form):
        user = form.get_user()
        if not twofactor.has_second_factor(user):
            return super().form_valid(form)
        self.request.session.cycle_key()
        self.request.session[PENDING] = {
            "user": user.pk,
            "backend": user.backend,
            "at": time.time(),
            "next": self.get_success_url(),
        }
        return redirect("login_code")


class CodeForm(forms.Form):
    code = forms.CharField(
        label="Code",
        max_length=20,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}
        ),
        help_text="The 6 digits your authenticator app shows, or one of your recovery codes.",
    )


def _pending_user(request) -> tuple[User, dict] | None:
    pending = request.session.get(PENDING)
    if not pending or time.time() - pending["at"] > PENDING_SECONDS:
        return None
    user = User.objects.filter(pk=pending["user"], is_active=True).first()
    return (user, pending) if user else None


@sensitive_post_parameters("code")
@csrf_protect
@never_cache
def login_code(request):
    """The second step: the user whose password was right types a code."""
    found = _pending_user(request)
    if found is None:
        request.session.pop(PENDING, None)
        messages.info(request, "Log in again: the login took too long.")
        return redirect("login")
    user, pending = found
    credentials = {"username": user.get_username()}
    form = CodeForm(request.POST or None)
    lock = lockout_of(request, credentials)
    if lock is not None:
        request.session.pop(PENDING, None)
        context = {"form": CodeForm(), "lockout": lock.message()}
        return render(request, "registration/login_code.html", context, status=429)
    if request.method == "POST" and form.is_valid():
        check = twofactor.check_code(user, form.cleaned_data["code"])
        if check.device is not None:
            del request.session[PENDING]
            auth.login(request, user, backend=pending["backend"])
            otp_login(request, check.device)
            if check.recovery_codes_left is not None:
                messages.warning(
                    request,
                    f"You logged in with a recovery code; {check.recovery_codes_left} are "
                    "left. Make new ones on your two-factor page.",
                )
            return HttpResponseRedirect(_safe_next(request, pending["next"]))
        # Counted as a failed login of the account: axes may lock it out (then its
        # middleware answers with the login page saying until when).
        user_login_failed.send(sender=__name__, credentials=credentials, request=request)
        form.add_error("code", check.error)
    return render(request, "registration/login_code.html", {"form": form, "lockout": ""})


def _safe_next(request, url: str) -> str:
    if url and url_has_allowed_host_and_scheme(url, {request.get_host()}, request.is_secure()):
        return url
    return reverse("web:home")


def admin_login(request):
    """Django admin's login page sends to Postroom's, which asks for the second factor."""
    target = request.GET.get("next") or reverse("admin:index")
    return redirect(f"{reverse('login')}?{urlencode({'next': target})}")


class ConfirmForm(forms.Form):
    code = forms.CharField(
        label="Code from the app",
        max_length=10,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )


class PasswordConfirmForm(forms.Form):
    password = forms.CharField(label="Your password", widget=forms.PasswordInput, strip=False)


@login_required
@sensitive_post_parameters("code")
def two_factor(request):
    """The user's own second factor: its state, or the QR code to set one up."""
    user = request.user
    device = twofactor.device_of(user)
    if device is not None:
        context = {
            "device": device,
            "codes_left": twofactor.recovery_codes_left(user),
            "off_form": PasswordConfirmForm(),
            "required": twofactor.is_required_for(user),
        }
        return render(request, "personal/two_factor.html", context)
    pending = twofactor.pending_device(user)
    form = ConfirmForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            codes = twofactor.do_confirm_device(pending, form.cleaned_data["code"])
        except twofactor.TwoFactorError as exc:
            form.add_error("code", str(exc))
        else:
            otp_login(request, pending)  # this session proved the code
            return render(request, "personal/recovery_codes.html", {"codes": codes})
    context = {
        "form": form,
        "qr": twofactor.qr_svg(pending),
        "secret": twofactor.secret_of(pending),
        "required": twofactor.must_set_up(user),
    }
    return render(request, "personal/two_factor_setup.html", context)


@login_required
@require_POST
def two_factor_recovery_codes(request):
    if not twofactor.has_second_factor(request.user):
        return redirect("web:two_factor")
    codes = twofactor.do_make_recovery_codes(request.user)
    return render(request, "personal/recovery_codes.html", {"codes": codes})


@login_required
@require_POST
@sensitive_post_parameters("password")
def two_factor_off(request):
    form = PasswordConfirmForm(request.POST)
    if not form.is_valid() or not request.user.check_password(form.cleaned_data["password"]):
        messages.error(request, "Not turned off: that is not your password.")
        return redirect("web:two_factor")
    try:
        twofactor.do_turn_off(request.user)
    except twofactor.TwoFactorError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, "Two-factor authentication is off.")
    return redirect("web:two_factor")
