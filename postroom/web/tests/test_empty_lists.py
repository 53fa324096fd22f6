"""An empty list says "nothing you may see" when there are items the user may not read,
and "nothing here yet" only when there are none (CRM lists, the inbox, mailboxes)."""

import pytest
from django.urls import reverse

from postroom.mailboxes.actions import do_grant_mailbox
from postroom.testing.factories import (
    ConversationFactory,
    LeadFactory,
    MailboxFactory,
    SmartItemFactory,
    SmartTypeFactory,
    UserFactory,
)
from postroom.testing.web import logged_in

pytestmark = pytest.mark.django_db

UNSEEN = 'data-empty="unseen"'


def _page(user, url: str) -> str:
    response = logged_in(user).get(url)
    assert response.status_code == 200
    return response.content.decode()


def test_a_crm_list_says_nothing_you_may_see_when_items_exist():
    user = UserFactory()  # no role: reads no leads
    assert "here yet" in _page(user, reverse("web:leads"))
    LeadFactory()
    page = _page(user, reverse("web:leads"))
    assert UNSEEN in page and "Nothing you may see" in page and "here yet" not in page


def test_a_smart_list_counts_only_its_own_types_items():
    user = UserFactory()
    support, other = SmartTypeFactory(name="Support"), SmartTypeFactory(name="Returns")
    SmartItemFactory(smart_type=other)
    assert UNSEEN not in _page(user, reverse("web:smart_items", args=[support.slug]))
    SmartItemFactory(smart_type=support)
    assert UNSEEN in _page(user, reverse("web:smart_items", args=[support.slug]))


def test_the_inbox_says_so_when_mail_is_in_mailboxes_the_user_may_not_read():
    user = UserFactory()
    mine = MailboxFactory()
    do_grant_mailbox(mine, user)
    url = reverse("web:inbox") + "?view=open"
    assert UNSEEN not in _page(user, url)
    ConversationFactory(mailbox=MailboxFactory())
    page = _page(user, url)
    assert UNSEEN in page and "you have no access" in page


def test_the_mailboxes_page_says_how_many_shared_mailboxes_are_not_theirs():
    user = UserFactory()
    assert UNSEEN not in _page(user, reverse("web:mailboxes"))
    MailboxFactory(), MailboxFactory()
    page = _page(user, reverse("web:mailboxes"))
    assert UNSEEN in page and "2 shared mailboxes exist" in page
