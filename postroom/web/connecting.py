"""Connecting a mailbox from a page, the same for a shared and a personal one: nothing
is saved unless the server accepts the login; then its folders are read, and the user is
told which are synced. Saving is the caller's service, given as `save`."""

from collections.abc import Callable

from django.contrib import messages

from postroom.mailboxes.actions import ConnectionSettings, MailboxError
from postroom.mailboxes.models import Mailbox
from postroom.sync import imap
from postroom.sync.service import discover_folders, verify_connection


def connect(request, conn: ConnectionSettings, save: Callable[[], Mailbox]) -> Mailbox:
    """Log in with `conn` (unless it has no IMAP server), `save`, read the folders;
    MailboxError, with nothing saved, says what is wrong."""
    if Mailbox.objects.filter(address__iexact=conn.address).exists():
        raise MailboxError(f"{conn.address} is already connected")
    if conn.imap_host:
        try:
            verify_connection(conn)
        except imap.SyncError as exc:
            raise MailboxError(f"Not connected: {exc}") from exc
    mailbox = save()
    if not mailbox.has_imap:
        messages.success(request, f"Connected {mailbox.address}, fed by the ingress.")
        return mailbox
    try:
        folders = discover_folders(mailbox)
    except imap.SyncError as exc:
        messages.warning(request, f"Connected; reading its folders failed: {exc}")
    else:
        synced = ", ".join(f.name for f in folders if f.is_synced)
        messages.success(request, f"Connected {mailbox.address}: syncing {synced}.")
    return mailbox
