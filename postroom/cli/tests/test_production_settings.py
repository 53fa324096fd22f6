"""POSTROOM_PUBLIC_URL=https://... gives the production settings: HSTS, Secure cookies,
http redirected to https, and `postroom check --deploy` without a warning. Each run is a
real `postroom` process, since settings read the environment once, at start."""

import os
import subprocess
import sys

import pytest

PUBLIC = "https://postroom.acme.test"

# A request through the whole middleware stack, as a browser over https would send it
# (and once over plain http): the headers and cookies that come back.
_REQUEST = """
from django.test import Client
client = Client(HTTP_HOST="postroom.acme.test")
secure = client.get("/login/", secure=True)
print("HSTS", secure.get("Strict-Transport-Security"))
print("CSP", secure.get("Content-Security-Policy"))
for name, cookie in secure.cookies.items():
    print("COOKIE", name, "secure" if cookie["secure"] else "plain")
plain = client.get("/login/")
print("PLAIN", plain.status_code, plain.get("Location"))
proxied = client.get("/login/", HTTP_X_FORWARDED_PROTO="https")
print("PROXIED", proxied.status_code)
"""


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    data = tmp_path_factory.mktemp("production") / "data"
    assert _postroom(data, {}, "migrate", "--no-input", "-v0").returncode == 0
    return data


def _postroom(data, extra: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    # Not the test run's own: the browser tests set DJANGO_ALLOW_ASYNC_UNSAFE in this
    # process, which check --deploy rightly refuses.
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "POSTROOM_SECRET_KEY", "POSTROOM_DEBUG")
        and k != "DJANGO_ALLOW_ASYNC_UNSAFE"
        and not k.startswith("POSTROOM_PUBLIC")
    }
    return subprocess.run(
        [sys.executable, "-m", "postroom", *args],
        env={**env, "POSTROOM_DATA_DIR": str(data), **extra},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_check_deploy_is_clean_with_an_https_public_url(data_dir):
    checked = _postroom(
        data_dir, {"POSTROOM_PUBLIC_URL": PUBLIC}, "check", "--deploy", "--fail-level", "WARNING"
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "no issues" in checked.stdout


def test_check_deploy_names_what_is_missing_without_one(data_dir):
    checked = _postroom(data_dir, {}, "check", "--deploy")
    for check in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert check in checked.stderr


def test_pages_over_https_carry_hsts_secure_cookies_and_the_policy(data_dir):
    ran = _postroom(
        data_dir, {"POSTROOM_PUBLIC_URL": PUBLIC}, "shell", "--no-imports", "-c", _REQUEST
    )
    assert ran.returncode == 0, ran.stderr
    lines = ran.stdout.splitlines()
    assert "HSTS max-age=31536000; includeSubDomains" in lines
    # Directives, not the header's text: django-csp writes them in no fixed order.
    (policy,) = (line.removeprefix("CSP ") for line in lines if line.startswith("CSP "))
    directives = {d.strip() for d in policy.split(";")}
    assert {"default-src 'self'", "script-src 'self'"} <= directives
    assert "COOKIE csrftoken secure" in lines
    assert f"PLAIN 301 {PUBLIC}/login/" in lines
    assert "PROXIED 200" in lines  # a TLS-ending proxy says so in X-Forwarded-Proto


def test_without_a_public_url_nothing_forces_https(data_dir):
    hosts = {"POSTROOM_ALLOWED_HOSTS": "postroom.acme.test"}
    ran = _postroom(data_dir, hosts, "shell", "--no-imports", "-c", _REQUEST)
    lines = ran.stdout.splitlines()
    assert "HSTS None" in lines and "COOKIE csrftoken plain" in lines
    assert "PLAIN 200 None" in lines


def test_a_malformed_public_url_stops_the_start(data_dir):
    ran = _postroom(data_dir, {"POSTROOM_PUBLIC_URL": "postroom.acme.test"}, "check")
    assert ran.returncode != 0 and "POSTROOM_PUBLIC_URL must be" in ran.stderr
