"""Django test clients for the web views."""

from django.test import Client

from .factories import PASSWORD


def logged_in(user, **client_options) -> Client:
    """A test client with `user` logged in; options as for Client (enforce_csrf_checks)."""
    client = Client(**client_options)
    client.force_login(user)
    return client


def log_in(page, url: str, username: str, password: str = PASSWORD) -> None:
    """In a Playwright page: open `url`, which leads a stranger to the login page, and
    log in there as `username`."""
    page.goto(url)
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
