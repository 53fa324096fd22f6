"""The profile page's API tokens card posts here (views.py): HTML pages, not the API."""

from django.urls import path

from .views import token_create, token_revoke

urlpatterns = [
    path("", token_create, name="api_token_create"),
    path("<int:token_id>/revoke/", token_revoke, name="api_token_revoke"),
]
