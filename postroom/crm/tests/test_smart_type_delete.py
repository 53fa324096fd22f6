"""Deleting a smart type (postroom.crm.smart_types): only without items and without a
mailbox whose CRM rule creates its items; the refusal counts the items and names the
mailboxes."""

import pytest
from django.core.exceptions import ValidationError

from postroom.accounts.models import RolePermission
from postroom.accounts.roles import do_set_role_permissions
from postroom.crm import smart_types
from postroom.crm.access import CrmPermissionDenied
from postroom.crm.models import SmartField, SmartType, Stage
from postroom.testing.factories import (
    MailboxFactory,
    SmartItemFactory,
    SmartTypeFactory,
    UserFactory,
    default_role,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def root():
    return UserFactory(username="root", is_superuser=True)


@pytest.fixture
def claims():
    claims = SmartTypeFactory(name="Warranty Claim", slug="warranty-claim")
    claims.fields.create(name="Serial", key="serial")
    return claims


def test_a_type_without_items_or_mailbox_rules_is_deleted_with_its_stages_fields_and_rights(
    root, claims
):
    manager = default_role("Manager")
    do_set_role_permissions(manager, {("smart:warranty-claim", "read"): 3})
    MailboxFactory(crm_rule="smart", crm_smart_type="support-request")  # another type's
    assert smart_types.delete_blockers(claims) == []
    smart_types.do_delete_smart_type(claims, acting_user=root)
    assert not SmartType.objects.filter(slug="warranty-claim").exists()
    assert not Stage.objects.filter(smart_type_id=claims.pk).exists()
    assert not SmartField.objects.filter(smart_type_id=claims.pk).exists()
    assert not RolePermission.objects.filter(entity="smart:warranty-claim").exists()


def test_a_type_with_items_is_kept_and_the_refusal_counts_them(root, claims):
    SmartItemFactory.create_batch(3, smart_type=claims)
    with pytest.raises(ValidationError) as refused:
        smart_types.do_delete_smart_type(claims, acting_user=root)
    assert refused.value.messages == [
        "The smart type “Warranty Claim” has 3 items: delete them first."
    ]
    assert SmartType.objects.filter(pk=claims.pk).exists()


def test_a_type_a_mailbox_rule_points_at_is_kept_and_the_refusal_names_the_mailboxes(root, claims):
    MailboxFactory(
        name="Warranty",
        address="warranty@acme.test",
        crm_rule="smart",
        crm_smart_type="warranty-claim",
    )
    MailboxFactory(
        name="Service",
        address="service@acme.test",
        crm_rule="smart",
        crm_smart_type="warranty-claim",
    )
    # A mailbox that once had the rule but now makes leads does not count.
    MailboxFactory(address="old@acme.test", crm_rule="lead", crm_smart_type="warranty-claim")
    SmartItemFactory(smart_type=claims)
    with pytest.raises(ValidationError) as refused:
        smart_types.do_delete_smart_type(claims, acting_user=root)
    assert refused.value.messages == [
        "The smart type “Warranty Claim” has 1 item: delete them first.",
        "The CRM rule of these mailboxes creates its items: Service <service@acme.test>, "
        "Warranty <warranty@acme.test>. Change the rule first.",
    ]
    assert SmartType.objects.filter(pk=claims.pk).exists()


def test_only_an_administrator_deletes_a_smart_type(claims):
    manager = UserFactory(username="mia")
    manager.roles.add(default_role("Manager"))
    with pytest.raises(CrmPermissionDenied, match="Only an administrator"):
        smart_types.do_delete_smart_type(claims, acting_user=manager)
    assert SmartType.objects.filter(pk=claims.pk).exists()
