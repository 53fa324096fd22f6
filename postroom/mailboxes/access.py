"""Who may see and work with which mailbox."""

from django.db.models import Q, QuerySet

from .models import Mailbox, MailboxGrant


def mailboxes_for(user, level: int = MailboxGrant.Level.READ) -> QuerySet[Mailbox]:
    """Mailboxes the user may use at the given level.

    Administrators see every shared mailbox; a personal mailbox is its owner's alone,
    administrators included, because it is someone's private mail.
    """
    if not user.is_authenticated:
        return Mailbox.objects.none()
    personal = Q(kind=Mailbox.Kind.PERSONAL, owner=user)
    if user.is_superuser:
        return Mailbox.objects.filter(Q(kind=Mailbox.Kind.SHARED) | personal)
    granted = Q(grants__level__gte=level) & (
        Q(grants__user=user) | Q(grants__group__in=user.groups.all())
    )
    return Mailbox.objects.filter((Q(kind=Mailbox.Kind.SHARED) & granted) | personal).distinct()


def admins_of(mailbox: Mailbox) -> QuerySet:
    """Users to tell when the mailbox breaks."""
    from django.contrib.auth import get_user_model

    user_model = get_user_model()
    if mailbox.kind == Mailbox.Kind.PERSONAL:
        return user_model.objects.filter(pk=mailbox.owner_id)
    return user_model.objects.filter(
        Q(is_superuser=True)
        | Q(mailboxgrant__mailbox=mailbox, mailboxgrant__level=MailboxGrant.Level.MANAGE)
    ).distinct()
