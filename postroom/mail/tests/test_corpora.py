"""Public email corpora through the pipeline: no crash, nothing lost, every failure quarantined.

Every file of each corpus is stored as fetched mail (store_copies), parsed (parse_stored)
and threaded, as the sync worker and the ingest job do. The corpora:

- the standard library's own test messages, test/test_email/data, found under the
  interpreter's standard library (some builds leave the test package out: then the test
  says so and skips, except under CI=true, where that is a failure);
- ../shared/corpora/ruby-mail/spec/fixtures/emails and
  ../shared/corpora/stalwart-mail-parser/resources beside the repository, where present.

Every file is fed, not only *.eml: images, JSON and licence files must be quarantined,
never crash the pipeline or pass as empty emails.
"""

from __future__ import annotations

import os
import sysconfig
from collections import Counter
from pathlib import Path

import pytest

from postroom.mail import attachments, rawstore
from postroom.mail.ingest import FetchedMessage, parse_stored, store_copies
from postroom.mail.models import Message, MessageCopy
from postroom.mail.parse import read_envelope
from postroom.mail.threads import thread_message
from postroom.testing.factories import MailboxFactory

pytestmark = pytest.mark.django_db

IN_CI = os.environ.get("CI") == "true"
REPOSITORY = Path(__file__).resolve().parents[3]
SHARED = REPOSITORY.parent / "shared" / "corpora"
STDLIB = Path(sysconfig.get_paths()["stdlib"]) / "test" / "test_email" / "data"

CORPORA = {
    "stdlib": STDLIB,
    "ruby-mail": SHARED / "ruby-mail" / "spec" / "fixtures" / "emails",
    "stalwart-mail-parser": SHARED / "stalwart-mail-parser" / "resources",
}
# Files named like emails that are not emails: a mailing-list digest's preamble.
NOT_EMAIL = {"msg_19.txt"}
BATCH = 50


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def _is_email(path: Path) -> bool:
    return path.suffix in (".eml", ".txt") and path.name not in NOT_EMAIL


@pytest.mark.parametrize("name", list(CORPORA))
def test_every_file_of_the_corpus_goes_through_the_pipeline(name):
    root = CORPORA[name]
    if not root.is_dir():
        reason = f"the {name} corpus is not at {root}"
        if name == "stdlib":
            # Debian's python3.11 ships it apart, in libpython3.11-testsuite.
            reason += " (this Python build has no test package)"
        pytest.fail(reason) if IN_CI else pytest.skip(reason)
    files = _files(root)
    assert files, f"{root} is empty"
    folder = MailboxFactory().folders.get(name="INBOX")
    raws = {uid: path.read_bytes() for uid, path in enumerate(files, start=1)}

    ids: list[int] = []
    items = list(raws.items())
    for start in range(0, len(items), BATCH):
        batch = [FetchedMessage(uid=uid, raw=raw) for uid, raw in items[start : start + BATCH]]
        ids += store_copies(folder, 1, batch)
    for message in Message.objects.filter(pk__in=ids).order_by("pk"):
        thread_message(parse_stored(message), folder.mailbox)

    # Nothing lost: every file is a copy of a message, with its bytes exactly as they came.
    copies = {c.uid: c for c in MessageCopy.objects.filter(folder=folder).select_related("message")}
    assert sorted(copies) == sorted(raws)
    for uid, raw in raws.items():
        message = copies[uid].message
        envelope = read_envelope(raw)
        assert message.identity in (envelope.identity, envelope.reused_identity), files[uid - 1]
        assert rawstore.get(rawstore.sha256_of(raw)) == raw
        if message.raw_sha256 == rawstore.sha256_of(raw):
            assert message.raw_size == len(raw)

    # Every message was dealt with: parsed, or quarantined with the reason.
    messages = Message.objects.filter(copies__folder=folder).distinct()
    statuses = Counter(messages.values_list("status", flat=True))
    assert statuses[Message.Status.RECEIVED] == 0
    assert not messages.filter(status=Message.Status.QUARANTINED, error="").exists()
    # Every message shows in the mailbox, quarantined ones too.
    assert not messages.filter(conversationmessage__isnull=True).exists()

    # Only what is not an email is quarantined.
    quarantined = {
        files[uid - 1].relative_to(root).as_posix()
        for uid, copy in copies.items()
        if copy.message.status == Message.Status.QUARANTINED
    }
    wrongly = sorted(p for p in quarantined if _is_email(root / p))
    assert not wrongly, f"emails quarantined: {wrongly}"

    # Attachments: every one is stored, with its bytes.
    for message in messages.filter(status=Message.Status.PARSED).prefetch_related("attachments"):
        for attachment in message.attachments.all():
            assert len(attachments.read(attachment)) == attachment.size
            assert attachment.filename and "/" not in attachment.filename
