"""Noting what changes routing's decisions, so that each process's loaded rules stay true.

Every save or delete of what `RuleSet.load` reads (rules and their queues, the people in
them and their groups, mailbox grants, departments, calendars) adds a RoutingChange row
in the same transaction; `version()` is the number of rows a process can see. A loaded
rule set is reused while the version it was loaded at holds (rules.RuleSet.load).

Why rows and not one counter: bumping one counter row inside transactions would
serialise every transaction that touches a user or a grant on that row's lock (and
deadlock with ones that take the same locks in the other order), while inserts never
wait on each other. Why a count and not the largest id: on PostgreSQL a transaction that
took id 5 can commit after one that took id 6; the count still moves when it does.
"""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection
from django.db.models.signals import m2m_changed, post_delete, post_save

from .models import RoutingChange

# A user's saves that change nothing routing reads: a login, a new password.
_USER_FIELDS_IGNORED = frozenset({"last_login", "password"})


def note_change(**kwargs) -> None:
    """Record that routing's inputs changed (a signal receiver too)."""
    fields = kwargs.get("update_fields")
    if kwargs.get("sender") is get_user_model() and fields and set(fields) <= _USER_FIELDS_IGNORED:
        return
    if kwargs.get("action", "").startswith("pre_"):
        return  # m2m_changed: the post_ signal of the same change records it
    RoutingChange.objects.create()


def version() -> int:
    """How many changes this transaction can see (plain SQL: it runs for every job)."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM {RoutingChange._meta.db_table}")  # noqa: S608
        return cursor.fetchone()[0]


def connect() -> None:
    """Listen to the models routing reads (RoutingConfig.ready)."""
    from postroom.accounts.models import Department
    from postroom.mailboxes.models import MailboxGrant

    from .models import BusinessHours, DistributionRule

    User = get_user_model()
    for model in (DistributionRule, BusinessHours, MailboxGrant, Department, Group, User):
        post_save.connect(note_change, sender=model, dispatch_uid=f"routing-save-{model}")
        post_delete.connect(note_change, sender=model, dispatch_uid=f"routing-delete-{model}")
    for through in (DistributionRule.queue_users.through, User.groups.through):
        m2m_changed.connect(note_change, sender=through, dispatch_uid=f"routing-m2m-{through}")
