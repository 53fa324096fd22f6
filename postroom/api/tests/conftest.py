"""Fixtures of the API's tests: a mailbox with people of each right, and clients that
call the API with a token of a scope or with a session."""

from __future__ import annotations

import pytest
from django.test import Client

from postroom.api.tokens import do_create_token
from postroom.mailboxes.actions import do_grant_mailbox
from postroom.mailboxes.models import MailboxGrant
from postroom.testing.factories import MailboxFactory, UserFactory


class ApiClient:
    """A Django test client that sends a bearer token (or a session) and reads JSON."""

    def __init__(self, client: Client, token: str | None = None):
        self.client = client
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    def _call(self, method: str, path: str, data=None, **extra):
        call = getattr(self.client, method)
        if method in ("get", "delete") and data is None:
            return call(path, headers=self.headers, **extra)
        if method == "get":
            return call(path, data, headers=self.headers, **extra)
        return call(
            path, data or {}, content_type="application/json", headers=self.headers, **extra
        )

    def get(self, path, data=None, **extra):
        return self._call("get", path, data, **extra)

    def post(self, path, data=None, **extra):
        return self._call("post", path, data, **extra)

    def patch(self, path, data=None, **extra):
        return self._call("patch", path, data, **extra)

    def put(self, path, data=None, **extra):
        return self._call("put", path, data, **extra)

    def delete(self, path, data=None, **extra):
        return self._call("delete", path, data, **extra)


def token_client(user, scope: str = "read_write") -> ApiClient:
    return ApiClient(Client(), do_create_token(user, name="test", scope=scope).raw)


@pytest.fixture
def sales(db):
    return MailboxFactory(name="Sales", address="sales@acme.test")


def _person(name: str, mailbox, level):
    user = UserFactory(username=name, first_name=name.title())
    if level is not None:
        do_grant_mailbox(mailbox, user, level)
    return user


@pytest.fixture
def reader(sales):
    return _person("rita", sales, MailboxGrant.Level.READ)


@pytest.fixture
def replier(sales):
    return _person("ralph", sales, MailboxGrant.Level.REPLY)


@pytest.fixture
def manager(sales):
    return _person("mona", sales, MailboxGrant.Level.MANAGE)


@pytest.fixture
def stranger(sales):
    return _person("mallory", sales, None)


@pytest.fixture
def admin(db):
    return UserFactory(username="root", is_superuser=True, is_staff=True)
