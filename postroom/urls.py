from django.contrib import admin
from django.urls import include, path

from postroom.web import login_views

urlpatterns = [
    # Logins go through Postroom's page (throttled, then the second factor), the admin's too.
    path("admin/login/", login_views.admin_login),
    path("admin/", admin.site.urls),
    path("login/", login_views.LoginView.as_view(), name="login"),
    path("login/code/", login_views.login_code, name="login_code"),
    path("", include("django.contrib.auth.urls")),
    path("", include("postroom.web.urls")),
]
