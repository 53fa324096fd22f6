"""The API's browsable docs in Chromium: Swagger UI and its assets come from Postroom
itself (nothing from another origin, nothing refused by the Content-Security-Policy),
the operations of the served document are listed, "Try it out" calls the API with the
logged-in session, and the UI's own writes need the CSRF token."""

import pytest

from postroom.mail.models import Comment
from postroom.mailboxes.actions import do_grant_mailbox
from postroom.mailboxes.models import MailboxGrant
from postroom.testing.factories import ConversationFactory, MailboxFactory, UserFactory
from postroom.testing.web import log_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_the_docs_load_from_postroom_alone_and_call_the_api_with_the_session(live_server, page):
    page.set_default_timeout(60_000)  # generous: the whole suite may load the machine
    user = UserFactory(username="rita", first_name="Rita")
    sales = MailboxFactory(name="Sales", address="sales@acme.test")
    do_grant_mailbox(sales, user, MailboxGrant.Level.REPLY)
    conversation = ConversationFactory(mailbox=sales)
    requested: list[str] = []
    refused: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.on(
        "console",
        lambda msg: refused.append(msg.text) if "Content Security Policy" in msg.text else None,
    )
    log_in(page, f"{live_server.url}/", "rita")
    page.wait_for_load_state("networkidle")
    requested.clear()

    page.goto(f"{live_server.url}/api/v1/docs/")
    page.wait_for_selector("text=Postroom API")
    page.wait_for_selector(".opblock-summary-path >> text=/api/v1/conversations/")
    page.wait_for_load_state("networkidle")
    assert f"{live_server.url}/api/v1/openapi.json" in requested
    foreign = [url for url in requested if not url.startswith((live_server.url, "data:"))]
    assert foreign == [], "every asset of the docs is Postroom's own"
    assert refused == []

    # Try it out on GET /api/v1/users/me: the session is who calls.
    operation = page.locator(
        ".opblock-get", has=page.locator(".opblock-summary-path[data-path='/api/v1/users/me']")
    )
    operation.locator(".opblock-summary").click()
    operation.locator("button.try-out__btn").click()
    operation.locator("button.execute").click()
    answer = operation.locator(".live-responses-table .response-col_description pre").first
    answer.wait_for()
    assert '"username": "rita"' in answer.inner_text()

    # The UI's own write: refused without the CSRF token, made with it.
    url = f"/api/v1/conversations/{conversation.pk}/comments"
    without = page.evaluate(
        """async (url) => {
            const r = await fetch(url, {method: "POST", credentials: "same-origin",
                headers: {"Content-Type": "application/json"},
                body: JSON.stringify({body: "no token"})});
            return [r.status, await r.json()];
        }""",
        url,
    )
    assert without[0] == 403 and without[1]["code"] == "csrf_failed", without
    with_token = page.evaluate(
        """async (url) => {
            const csrf = document.body.dataset.csrfToken;
            const r = await fetch(url, {method: "POST", credentials: "same-origin",
                headers: {"Content-Type": "application/json", "X-CSRFToken": csrf},
                body: JSON.stringify({body: "from the browser"})});
            return [r.status, await r.json()];
        }""",
        url,
    )
    assert with_token[0] == 201, with_token
    assert list(Comment.objects.values_list("body", "author__username")) == [
        ("from the browser", "rita")
    ]
