from django.urls import re_path

from . import views

app_name = "tracking"
# Anything under /t/ is answered here, a malformed path with the same plain 404 as a
# forged token (never the site's own pages).
urlpatterns = [
    re_path(r"^o/(?P<token>[^/]*)\.gif$", views.open_image, name="open"),
    re_path(r"^c/(?P<token>.*)$", views.click, name="click"),
    re_path(r"^", views.not_found),
]
