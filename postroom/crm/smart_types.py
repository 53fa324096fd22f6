"""Deleting a smart type (defining one is `editing.do_define_smart_type`).

A type is deleted only when nothing depends on it: no items (they cannot move to
another type, so they are deleted first), and no mailbox whose CRM rule creates its
items from new mail (capture would have nowhere to put them). The refusal names the
count of items and the mailboxes.
"""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import ProtectedError

from postroom.accounts.models import RolePermission
from postroom.mailboxes.models import CrmRuleKind, Mailbox

from .access import check_admin
from .models import SmartType


def mailboxes_using(smart_type: SmartType) -> list[Mailbox]:
    """Mailboxes whose CRM rule makes items of the type (crm_rule "smart:<slug>")."""
    return list(
        Mailbox.objects.filter(crm_rule=CrmRuleKind.SMART, crm_smart_type=smart_type.slug).order_by(
            "name", "pk"
        )
    )


def delete_blockers(smart_type: SmartType) -> list[str]:
    """Why the type cannot be deleted now; empty when it can."""
    reasons = []
    items = smart_type.items.count()
    if items:
        noun = "item" if items == 1 else "items"
        reasons.append(f"The smart type “{smart_type.name}” has {items} {noun}: delete them first.")
    mailboxes = mailboxes_using(smart_type)
    if mailboxes:
        names = ", ".join(f"{m.name} <{m.address}>" if m.name else m.address for m in mailboxes)
        reasons.append(
            f"The CRM rule of {'this mailbox' if len(mailboxes) == 1 else 'these mailboxes'} "
            f"creates its items: {names}. Change the rule first."
        )
    return reasons


@transaction.atomic
def do_delete_smart_type(smart_type: SmartType, *, acting_user) -> None:
    """Delete a type without items or mailbox rules, with its stages, fields and the
    roles' rights on it (a later type with the same slug starts without them)."""
    check_admin(acting_user, "delete smart types")
    smart_type = SmartType.objects.select_for_update().filter(pk=smart_type.pk).first()
    if smart_type is None:
        raise ValidationError("This smart type was deleted meanwhile.")
    reasons = delete_blockers(smart_type)
    if reasons:
        raise ValidationError(reasons)
    slug = smart_type.slug
    try:
        smart_type.delete()
    except ProtectedError:  # an item was created since it was counted
        raise ValidationError(
            f"The smart type “{smart_type.name}” has just received an item: it was not deleted."
        ) from None
    RolePermission.objects.filter(entity=f"smart:{slug}").delete()
