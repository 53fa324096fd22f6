"""Personal API tokens: made on the profile page and shown once, hashed at rest, scoped,
expiring, revocable, their last use shown; the rate limit per token; session calls
with CSRF."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from postroom.api.models import ApiToken
from postroom.api.tokens import do_create_token, do_revoke_token
from postroom.testing.factories import ConversationFactory
from postroom.testing.web import logged_in

from .conftest import ApiClient, token_client

pytestmark = pytest.mark.django_db

ME = "/api/v1/users/me"


def test_a_token_made_on_the_profile_is_shown_once_and_stored_only_as_a_hash(reader):
    browser = logged_in(reader)
    page = browser.post(
        "/me/api-tokens/", {"name": "ERP sync", "scope": "read_write", "expires": ""}
    )
    assert page.status_code == 200
    assert page["Cache-Control"] == "no-store"
    (raw,) = re.findall(r'value="(prm_[\w-]+)"', page.content.decode())
    token = ApiToken.objects.get(user=reader)
    assert token.key_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert raw not in str(ApiToken.objects.values_list().get())
    profile = browser.get("/me/").content.decode()
    assert "ERP sync" in profile and token.prefix in profile and raw not in profile
    assert ApiClient(Client(), raw).get(ME).json()["id"] == reader.pk


def test_the_last_use_is_recorded_and_shown(reader):
    made = do_create_token(reader, name="BI")
    assert ApiClient(Client(), made.raw).get(ME).status_code == 200
    made.token.refresh_from_db()
    assert made.token.last_used_at is not None
    assert "ago" in logged_in(reader).get("/me/").content.decode().split("BI", 1)[1]


def test_a_revoked_token_stops_working_at_once(reader):
    made = do_create_token(reader, name="old")
    api = ApiClient(Client(), made.raw)
    assert api.get(ME).status_code == 200
    browser = logged_in(reader)
    browser.post(f"/me/api-tokens/{made.token.pk}/revoke/")
    refused = api.get(ME)
    assert refused.status_code == 401
    assert refused.json()["code"] == "not_authenticated"


def test_only_the_owner_may_revoke_a_token(reader, replier):
    made = do_create_token(reader, name="mine")
    assert logged_in(replier).post(f"/me/api-tokens/{made.token.pk}/revoke/").status_code == 404
    made.token.refresh_from_db()
    assert made.token.revoked_at is None


def test_an_expired_token_is_refused(reader):
    made = do_create_token(reader, name="short", expires_at=timezone.now() + timedelta(hours=1))
    ApiToken.objects.filter(pk=made.token.pk).update(expires_at=timezone.now() - timedelta(1))
    assert ApiClient(Client(), made.raw).get(ME).status_code == 401


def test_a_read_token_reads_but_may_not_write(sales, replier):
    conversation = ConversationFactory(mailbox=sales)
    api = ApiClient(Client(), do_create_token(replier, name="r", scope="read").raw)
    assert api.get(f"/api/v1/conversations/{conversation.pk}").status_code == 200
    refused = api.post(f"/api/v1/conversations/{conversation.pk}/status", {"status": "closed"})
    assert refused.status_code == 403
    assert refused.json()["code"] == "token_read_only"
    conversation.refresh_from_db()
    assert conversation.status == "open"


def test_a_deactivated_users_tokens_stop_working(reader):
    made = do_create_token(reader, name="t")
    reader.is_active = False
    reader.save(update_fields=["is_active"])
    assert ApiClient(Client(), made.raw).get(ME).status_code == 401


def test_over_the_rate_limit_a_token_gets_429_with_retry_after(reader, settings):
    settings.POSTROOM = {**settings.POSTROOM, "API_RATE_PER_MINUTE": 3}
    api = ApiClient(Client(), do_create_token(reader, name="busy").raw)
    codes = [api.get(ME).status_code for _ in range(5)]
    assert codes[:3] == [200, 200, 200]
    limited = api.get(ME)
    assert limited.status_code == 429
    assert limited.json()["code"] == "rate_limited"
    assert 1 <= int(limited["Retry-After"]) <= 60
    # Another token of the same user has its own count.
    assert ApiClient(Client(), do_create_token(reader, name="calm").raw).get(ME).status_code == 200


def test_a_session_writes_only_with_its_csrf_token(sales, replier):
    conversation = ConversationFactory(mailbox=sales)
    browser = logged_in(replier, enforce_csrf_checks=True)
    url = f"/api/v1/conversations/{conversation.pk}/status"
    assert browser.get(f"/api/v1/conversations/{conversation.pk}").status_code == 200
    refused = browser.post(url, {"status": "closed"}, content_type="application/json")
    assert refused.status_code == 403
    assert refused.json()["code"] == "csrf_failed"
    browser.get("/me/")  # sets the CSRF cookie, as any page does
    csrf = browser.cookies["csrftoken"].value
    done = browser.post(
        url, {"status": "closed"}, content_type="application/json", headers={"X-CSRFToken": csrf}
    )
    assert done.status_code == 200, done.content
    conversation.refresh_from_db()
    assert conversation.status == "closed"


def test_a_token_needs_a_name_and_a_future_expiry(reader):
    browser = logged_in(reader)
    browser.post("/me/api-tokens/", {"name": "", "scope": "read"})
    browser.post("/me/api-tokens/", {"name": "x", "scope": "read", "expires": "2001-01-01"})
    browser.post("/me/api-tokens/", {"name": "x", "scope": "admin"})
    assert not ApiToken.objects.exists()


def test_revoking_twice_is_harmless(reader):
    made = do_create_token(reader, name="t")
    assert do_revoke_token(made.token, acting_user=reader) is True
    assert do_revoke_token(made.token, acting_user=reader) is False


@pytest.mark.django_db(transaction=True)
def test_a_request_outside_a_transaction_is_counted_and_leaves_the_connection_as_it_was():
    """As in production (no test transaction around it): the token's count and last use
    are committed by the request's own statement, which on PostgreSQL skips the disk
    flush for itself alone; the connection's setting is untouched afterwards."""
    from django.db import connection

    from postroom.testing.factories import UserFactory

    user = UserFactory(username="solo")
    api = token_client(user, "read")
    assert api.get("/api/v1/users/me").json()["username"] == "solo"
    assert api.get("/api/v1/users/me").status_code == 200
    token = ApiToken.objects.get(user=user)
    assert token.rate_count == 2 and token.last_used_at is not None
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SHOW synchronous_commit")
            assert cursor.fetchone()[0] == "on"
