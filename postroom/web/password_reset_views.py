"""Password reset by email, only where Postroom can send email: through the outgoing
server of its notifications (POSTROOM_NOTIFY_SMTP, from POSTROOM_NOTIFY_FROM). Without
one the page says so, and who can set a new password, and sends nothing: Django's
default would try a mail server on localhost:25 and tell the user the email was sent.

Django's own views and token, with Postroom's templates (those under registration/ are
the admin's, which comes first among the apps).
"""

import logging

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import PasswordResetForm
from django.core.mail import EmailMessage, get_connection
from django.shortcuts import render
from django.template import loader
from django.urls import reverse_lazy

from postroom.accounts import notify

logger = logging.getLogger(__name__)


class ResetForm(PasswordResetForm):
    def send_mail(
        self,
        subject_template_name,
        email_template_name,
        context,
        from_email,
        to_email,
        html_email_template_name=None,
    ):
        subject = "".join(loader.render_to_string(subject_template_name, context).splitlines())
        body = loader.render_to_string(email_template_name, context)
        connection = get_connection(
            "django.core.mail.backends.smtp.EmailBackend",
            timeout=settings.POSTROOM.get("SMTP_TIMEOUT", 30),
            **notify.smtp_settings(),
        )
        message = EmailMessage(
            subject,
            body,
            from_email,
            [to_email],
            headers={"Auto-Submitted": "auto-generated"},
            connection=connection,
        )
        try:
            message.send()
        except Exception:
            # The page says the same whether or not an account has the address.
            logger.exception("password reset email to user %s not sent", context["user"].pk)
        else:
            logger.info("password reset email sent to user %s", context["user"].pk)


class PasswordResetView(auth_views.PasswordResetView):
    form_class = ResetForm
    template_name = "web/password_reset/form.html"
    email_template_name = "web/password_reset/email.txt"
    subject_template_name = "web/password_reset/subject.txt"
    success_url = reverse_lazy("password_reset_done")

    def dispatch(self, request, *args, **kwargs):
        if why_not := notify.email_configured():
            return render(
                request, "web/password_reset/unavailable.html", {"why_not": why_not}, status=503
            )
        self.from_email = settings.POSTROOM["NOTIFY_FROM"]
        return super().dispatch(request, *args, **kwargs)


class PasswordResetDoneView(auth_views.PasswordResetDoneView):
    template_name = "web/password_reset/done.html"


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    template_name = "web/password_reset/confirm.html"
    success_url = reverse_lazy("password_reset_complete")


class PasswordResetCompleteView(auth_views.PasswordResetCompleteView):
    template_name = "web/password_reset/complete.html"
