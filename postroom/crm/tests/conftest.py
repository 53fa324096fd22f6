import pytest

from postroom.mail.ingest import FetchedMessage, parse_stored, store_copy
from postroom.mailboxes.models import Folder


@pytest.fixture
def arrive():
    """Store and parse an email as if synced into a folder of the mailbox (INBOX)."""
    uids = iter(range(1, 10_000))

    def arrive(mailbox, raw: bytes, folder: str = "INBOX", role: str = Folder.Role.INBOX):
        box, _ = Folder.objects.get_or_create(mailbox=mailbox, name=folder, defaults={"role": role})
        return parse_stored(store_copy(box, 1, FetchedMessage(uid=next(uids), raw=raw)).message)

    return arrive
