"""Every page carries a Content-Security-Policy that runs only Postroom's own script
files; the message body and served parts keep their stricter policies; no template
holds an inline script, an on...= handler or a javascript: URL, which that policy
would block (a page would silently lose its behaviour)."""

import re
from pathlib import Path

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from postroom.testing.factories import UserFactory
from postroom.testing.web import logged_in

pytestmark = pytest.mark.django_db

TEMPLATES = Path(__file__).resolve().parents[2]  # postroom/
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>", re.I)
HANDLER = re.compile(r"<[^>]*\son[a-z]+\s*=", re.I)
JS_URL = re.compile(r"""(?:href|src|action)\s*=\s*["']\s*javascript:""", re.I)


def _directives(policy: str) -> dict[str, list[str]]:
    return {part.split()[0]: part.split()[1:] for part in policy.split(";") if part.strip()}


def _pages_without_arguments():
    """Every GET page of Postroom's own URLconf that takes no argument."""

    def walk(patterns, prefix, namespace):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                ns = pattern.namespace or namespace
                yield from walk(pattern.url_patterns, prefix + str(pattern.pattern), ns)
            elif (
                isinstance(pattern, URLPattern)
                and pattern.name
                and "<" not in prefix + str(pattern.pattern)
            ):
                yield f"{namespace}:{pattern.name}" if namespace else pattern.name

    return sorted(set(walk(get_resolver().url_patterns, "", None)))


def test_every_page_runs_only_postroom_script_files():
    client = logged_in(UserFactory(username="root", is_superuser=True, is_staff=True))
    checked = []
    for name in _pages_without_arguments():
        if name.startswith("admin:") and name != "admin:index":
            continue
        if name in {"logout"}:
            continue
        response = client.get(reverse(name))
        if response.status_code in (301, 302, 405) or "html" not in response.get(
            "Content-Type", ""
        ):
            continue
        policy = response.get("Content-Security-Policy")
        assert policy, name
        directives = _directives(policy)
        assert directives["script-src"] == ["'self'"], (name, policy)
        assert directives["object-src"] == ["'none'"] and directives["base-uri"] == ["'none'"]
        assert directives["frame-ancestors"] == ["'none'"], name
        checked.append(name)
    assert {"web:inbox", "web:profile", "web:mailboxes", "admin:index"} <= set(checked)


def test_the_login_page_has_the_policy_too(client):
    policy = client.get(reverse("login"))["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "unsafe-eval" not in policy


def test_no_template_holds_inline_script_or_handlers():
    offending = []
    for path in TEMPLATES.rglob("templates/**/*.html"):
        if path.name == "message_body.html":  # a sandboxed document that runs nothing
            continue
        text = path.read_text()
        for pattern in (INLINE_SCRIPT, HANDLER, JS_URL):
            offending += [
                f"{path.relative_to(TEMPLATES)}: {m.group(0)[:60]}" for m in pattern.finditer(text)
            ]
    assert offending == []
