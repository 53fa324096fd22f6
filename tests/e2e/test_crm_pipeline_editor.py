"""In a real browser: an administrator defines a "Partners" pipeline with its stages on
the pipeline editor, reorders one, and its board shows them in that order."""

import pytest

from postroom.crm.models import Pipeline
from postroom.testing.factories import UserFactory
from postroom.testing.web import log_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_an_administrator_defines_a_pipeline_and_its_board_follows(live_server, page):
    UserFactory(username="boss", is_superuser=True)

    page.set_default_timeout(60_000)  # generous: the whole suite may load the machine
    log_in(page, f"{live_server.url}/crm/pipelines/", "boss")
    page.click("text=New pipeline")
    page.fill("input[name=name]", "Partners")
    # A new pipeline starts with the usual four stages: each is renamed here.
    rows = [("Contacted", "open"), ("Negotiating", "open"), ("Signed", "won"), ("Declined", "lost")]
    for n, (name, kind) in enumerate(rows):
        page.fill(f"input[name='stages-{n}-name']", name)
        page.fill(f"input[name='stages-{n}-order']", str(n + 1))
        page.select_option(f"select[name='stages-{n}-semantics']", kind)
    page.click("form.pipeline-form button[type=submit]")
    page.wait_for_selector("table.pipelines >> text=Partners")

    partners = Pipeline.objects.get(name="Partners")
    assert [(s.name, s.semantics) for s in partners.stages.order_by("sort")] == rows

    # A stage added later, ordered first.
    page.click(f"tr[data-pipeline='{partners.pk}'] >> text=Edit")
    page.fill("input[name='stages-4-name']", "Introduced")  # the first blank row
    page.fill("input[name='stages-4-order']", "0")
    page.click("form.pipeline-form button[type=submit]")
    page.wait_for_selector("table.pipelines >> text=Introduced")
    assert [s.name for s in partners.stages.order_by("sort")][:2] == ["Introduced", "Contacted"]

    page.click("table.pipelines >> text=Partners")
    headings = page.locator("section[data-stage] h2")
    headings.first.wait_for()
    names = [text.split()[0] for text in headings.all_inner_texts()]
    assert names == ["Introduced", "Contacted", "Negotiating", "Signed", "Declined"]
