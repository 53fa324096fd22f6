"""Django test clients for the web views."""

from django.test import Client


def logged_in(user, **client_options) -> Client:
    """A test client with `user` logged in; options as for Client (enforce_csrf_checks)."""
    client = Client(**client_options)
    client.force_login(user)
    return client
