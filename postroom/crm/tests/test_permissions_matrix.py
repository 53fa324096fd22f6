"""The roles matrix on postroom/crm/access.py: every default role, every entity, every
action, against items of the user, of a colleague in their department, of someone in
another department and of nobody. The web pages are tested on the same matrix in
postroom/web/tests/test_permissions_matrix.py."""

import pytest

from postroom.accounts.roles import Scope, do_set_role_permissions, do_set_user_roles
from postroom.crm import access
from postroom.crm.models import Company, Contact, Deal, Lead, SmartItem
from postroom.testing.factories import (
    CompanyFactory,
    ContactFactory,
    DealFactory,
    DepartmentFactory,
    LeadFactory,
    RoleFactory,
    SmartItemFactory,
    SmartTypeFactory,
    UserFactory,
    default_role,
)

pytestmark = pytest.mark.django_db

OWNERS = ("own", "colleague", "outsider", "nobody")
REACH = {
    Scope.NONE: set(),
    Scope.OWN: {"own"},
    Scope.DEPARTMENT: {"own", "colleague"},
    Scope.ALL: set(OWNERS),
}
# What the migration 0005_default_roles gives, per action; None: a user without roles.
ROLES = {
    "Manager": {
        "read": Scope.DEPARTMENT,
        "create": Scope.ALL,
        "edit": Scope.OWN,
        "delete": Scope.OWN,
    },
    "Head of department": {
        "read": Scope.DEPARTMENT,
        "create": Scope.ALL,
        "edit": Scope.DEPARTMENT,
        "delete": Scope.DEPARTMENT,
    },
    "Administrator": dict.fromkeys(("read", "create", "edit", "delete"), Scope.ALL),
    None: dict.fromkeys(("read", "create", "edit", "delete"), Scope.NONE),
}
FACTORIES = {
    "lead": LeadFactory,
    "contact": ContactFactory,
    "company": CompanyFactory,
    "deal": DealFactory,
    "smart": SmartItemFactory,
}
MODELS = {"lead": Lead, "contact": Contact, "company": Company, "deal": Deal, "smart": SmartItem}


@pytest.fixture
def people():
    user, colleague, outsider = (
        UserFactory(password=None),
        UserFactory(password=None),
        UserFactory(password=None),
    )
    DepartmentFactory(name="Sales", members=[user, colleague])
    DepartmentFactory(name="Support", members=[outsider])
    return {"own": user, "colleague": colleague, "outsider": outsider, "nobody": None}


def _items(entity: str, people) -> dict[str, object]:
    extra = {"smart_type": SmartTypeFactory(slug="support-request")} if entity == "smart" else {}
    return {owner: FACTORIES[entity](responsible=people[owner], **extra) for owner in OWNERS}


def _as(role_name, user):
    if role_name is not None:
        do_set_user_roles(user, [default_role(role_name)])
    return type(user).objects.get(pk=user.pk)  # fresh, as a request loads it


@pytest.mark.parametrize("entity", list(FACTORIES))
@pytest.mark.parametrize("role_name", list(ROLES))
def test_each_default_role_reaches_exactly_its_scope(role_name, entity, people):
    items = _items(entity, people)
    user = _as(role_name, people["own"])
    scopes = ROLES[role_name]

    readable = {o for o in OWNERS if access.can_read(user, items[o])}
    assert readable == REACH[scopes["read"]]
    listed = set(access.items_for(user, MODELS[entity]).values_list("pk", flat=True))
    assert listed == {items[o].pk for o in REACH[scopes["read"]]}
    # Changing needs reading too.
    for action, check in (("edit", access.can_edit), ("delete", access.can_delete)):
        allowed = {o for o in OWNERS if check(user, items[o])}
        assert allowed == REACH[scopes[action]] & REACH[scopes["read"]], action
        for owner in OWNERS:
            reason = access.why_not(user, action, items[owner])
            assert bool(reason) == (owner not in allowed), (action, owner, reason)
    assert access.can_create(user, MODELS[entity]) == (scopes["create"] != Scope.NONE)


@pytest.mark.parametrize("entity", list(FACTORIES))
def test_an_administrator_may_do_everything_without_roles(entity, people):
    items = _items(entity, people)
    admin = UserFactory(password=None, is_superuser=True)
    assert all(access.can_delete(admin, item) for item in items.values())
    assert access.items_for(admin, MODELS[entity]).count() == len(OWNERS)
    assert access.can_create(admin, MODELS[entity])


def test_an_inactive_user_may_do_nothing(people):
    items = _items("deal", people)
    user = _as("Administrator", people["own"])
    user.is_active = False
    assert not access.can_read(user, items["own"])
    assert not access.items_for(user, Deal).exists()


def test_roles_combine_by_their_widest_scope(people):
    _items("lead", people)
    narrow = RoleFactory(rights={("lead", "read"): Scope.OWN})
    wide = RoleFactory(rights={("lead", "read"): Scope.ALL, ("deal", "read"): Scope.NONE})
    do_set_user_roles(people["own"], [narrow, wide])
    user = _as(None, people["own"])
    assert access.items_for(user, Lead).count() == 4
    assert not access.can_read(user, DealFactory(responsible=user))


def test_a_smart_types_own_row_overrides_the_any_smart_type_row(people):
    support = SmartTypeFactory(slug="support-request")
    claims = SmartTypeFactory(slug="claims")
    role = RoleFactory(rights={("smart:*", "read"): Scope.ALL})
    do_set_role_permissions(role, {("smart:claims", "read"): Scope.NONE})
    do_set_user_roles(people["own"], [role])
    user = _as(None, people["own"])
    ticket = SmartItemFactory(smart_type=support, responsible=people["outsider"])
    claim = SmartItemFactory(smart_type=claims, responsible=people["own"])
    assert access.can_read(user, ticket) and not access.can_read(user, claim)
    assert list(access.items_for(user, SmartItem)) == [ticket]
    assert list(access.items_for(user, claims)) == []
    assert list(access.items_for(user, support)) == [ticket]
    assert access.why_not(user, "read", claim)


def test_a_head_reaches_the_department_they_head_without_being_a_member(people):
    head = UserFactory(password=None)
    DepartmentFactory(name="Field", members=[people["outsider"]], head=head)
    do_set_user_roles(head, [default_role("Head of department")])
    head = _as(None, head)
    deal = DealFactory(responsible=people["outsider"])
    assert access.can_edit(head, deal)
    assert not access.can_read(head, DealFactory(responsible=people["colleague"]))


def test_the_reason_names_the_role_and_the_reach(people):
    items = _items("deal", people)
    user = _as("Manager", people["own"])
    reason = access.why_not(user, "edit", items["colleague"])
    assert "Manager" in reason and "you are responsible for" in reason
    assert str(people["colleague"]) in reason  # readable: who is responsible may be said
    hidden = access.why_not(user, "edit", items["outsider"])
    assert str(people["outsider"]) not in hidden and items["outsider"].title not in hidden
    with pytest.raises(access.CrmPermissionDenied) as refused:
        access.check_edit(user, items["colleague"])
    assert refused.value.reason == reason
    nobody = _as(None, UserFactory(password=None))
    assert "no CRM role" in access.why_not(nobody, "read", items["own"])
    reader = RoleFactory(name="Reader", rights={("deal", "read"): Scope.ALL})
    do_set_user_roles(people["colleague"], [reader])
    assert access.why_not(_as(None, people["colleague"]), "create", Deal) == (
        "Your role (Reader) allows no creating of deals."
    )


def test_leads_for_is_items_for_leads(people):
    items = _items("lead", people)
    user = _as("Manager", people["own"])
    assert set(access.leads_for(user)) == {items["own"], items["colleague"]}


def _email_in(mailbox, uid: int, subject: str):
    from postroom.mail.ingest import FetchedMessage, parse_stored, store_copy
    from postroom.testing.mail import make_email

    raw = make_email(subject=subject, body=f"body of {subject}")
    return parse_stored(store_copy(mailbox.folders.get(), 1, FetchedMessage(uid, raw)).message)


def test_the_timeline_shows_an_email_body_only_through_a_readable_mailbox(people):
    from postroom.crm.actions import do_bind_activity, do_record_email_activity
    from postroom.mailboxes.actions import do_grant_mailbox
    from postroom.testing.factories import MailboxFactory

    sales, hr = MailboxFactory(crm_rule="none"), MailboxFactory(crm_rule="none")
    user = _as("Manager", people["own"])
    do_grant_mailbox(sales, user)
    deal = DealFactory(responsible=user)
    outsiders_deal = DealFactory(responsible=people["outsider"])
    for mailbox, uid in ((sales, 1), (hr, 2)):
        activity = do_record_email_activity(_email_in(mailbox, uid, f"mail {uid}"), direction="in")
        do_bind_activity(activity, deal)
        do_bind_activity(activity, outsiders_deal)

    entries = access.timeline_for(user, deal)
    shown = {e.activity.subject: e.body_visible for e in entries if e.activity_id}
    assert shown == {"mail 1": True, "mail 2": False}
    assert access.timeline_for(user, outsiders_deal) == []
    # From the email's side: the items it is on that the user may read.
    message = entries[0].activity.message
    assert access.items_of_message(user, message) == [deal]
    admin = UserFactory(password=None, is_superuser=True)
    assert set(access.items_of_message(admin, message)) == {deal, outsiders_deal}
