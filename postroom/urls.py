from django.contrib import admin
from django.urls import include, path

from postroom.web import login_views, password_reset_views

urlpatterns = [
    # Logins go through Postroom's page (throttled, then the second factor), the admin's too.
    path("admin/login/", login_views.admin_login),
    path("admin/", admin.site.urls),
    path("login/", login_views.LoginView.as_view(), name="login"),
    path("login/code/", login_views.login_code, name="login_code"),
    # Password reset works only with an outgoing mail server (the page says so otherwise).
    path(
        "password_reset/", password_reset_views.PasswordResetView.as_view(), name="password_reset"
    ),
    path(
        "password_reset/done/",
        password_reset_views.PasswordResetDoneView.as_view(),
        name="password_reset_done",
    ),
    path(
        "reset/<uidb64>/<token>/",
        password_reset_views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "reset/done/",
        password_reset_views.PasswordResetCompleteView.as_view(),
        name="password_reset_complete",
    ),
    # Tracking: the open image and link redirects in sent mail, public, no login.
    path("t/", include("postroom.tracking.urls")),
    # The REST API (postroom/api): /api/v1/, its OpenAPI document and docs; the profile
    # page's API tokens card posts to me/api-tokens/.
    path("api/", include("postroom.api.urls")),
    path("me/api-tokens/", include("postroom.api.token_urls")),
    # Webhook subscriptions and their delivery logs, for administrators (postroom/webhooks).
    path("settings/webhooks/", include("postroom.webhooks.urls")),
    path("", include("django.contrib.auth.urls")),
    path("", include("postroom.web.urls")),
]

# Refusals in the site's layout, each logged as one line (postroom/web/refusals.py).
handler403 = "postroom.web.refusals.permission_denied"
handler404 = "postroom.web.refusals.page_not_found"
