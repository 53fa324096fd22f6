"""QuickSelect writes the markup Django's Select writes from its templates (but for the
whitespace between options), for plain and model choices, and reads a model choice's
options in one query, without a server-side cursor."""

import re

import pytest
from django import forms
from django.db import connection
from django.test.utils import CaptureQueriesContext

from postroom.mailboxes.models import Mailbox
from postroom.testing.factories import MailboxFactory
from postroom.web.quick_select import QuickSelect

pytestmark = pytest.mark.django_db


def _form(widget):
    class Form(forms.Form):
        mailbox = forms.ModelChoiceField(
            queryset=Mailbox.objects.order_by("name"),
            required=False,
            empty_label="All <mailboxes>",
            widget=widget,
        )
        order = forms.ChoiceField(
            choices=[("best", "Best & first"), ("new", "Newest")], widget=widget
        )

    return Form


def _html(form) -> str:
    return re.sub(r">\s+<", "><", str(form["mailbox"]) + str(form["order"]))


@pytest.mark.parametrize("data", [None, {"mailbox": "", "order": "new"}, "chosen"])
def test_it_writes_what_django_select_writes(data):
    one = MailboxFactory(name='Sales "EU"', address="sales@acme.test")
    MailboxFactory(name="Support", address="support@acme.test")
    if data == "chosen":
        data = {"mailbox": str(one.pk), "order": "best"}
    quick, django = _form(QuickSelect)(data), _form(forms.Select)(data)
    assert _html(quick) == _html(django)
    assert "Sales &quot;EU&quot;" in _html(quick) and "All &lt;mailboxes&gt;" in _html(quick)


def test_model_choices_are_read_in_one_plain_query():
    MailboxFactory(name="Sales", address="sales@acme.test")
    form = _form(QuickSelect)()
    with CaptureQueriesContext(connection) as captured:
        str(form["mailbox"])
    assert len(captured.captured_queries) == 1
    assert "DECLARE" not in captured.captured_queries[0]["sql"]
