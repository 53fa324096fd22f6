"""hostile: what each kind of hostile email (postroom.testing.hostile) costs the path,
against an ordinary email of about the same size in the same run.

Each email is stored, then ingested (parse, thread, index: the `ingest` job, which for
one email also captures it into the CRM) and then shown (the conversation page and its
body document, through Django's test client). Before the bounds, 100,000 nested
elements kept ingest busy for 100 s and the page for 26 s. The goal: no step of any
kind above 5 s; the page of a 30 MB text stays under 1 MB.

Run by the harness as `python -m bench.hostile_mail RESULT.json [--quick]` inside the
benchmark's installation; `run()` prints the table.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from .common import Harness, Table, say

GOAL_SECONDS = 5.0
GOAL_PAGE_BYTES = 1_000_000


def _ordinary(size: int) -> bytes:
    """A newsletter of about `size` bytes: tables of paragraphs, as marketing mail is."""
    from email.message import EmailMessage
    from email.utils import make_msgid

    cell = "<tr><td><p>Offer <b>40 chairs</b> at <a href='https://shop.test/'>shop</a></td></tr>"
    msg = EmailMessage()
    msg["From"] = "news@shop.test"
    msg["To"] = "sales@acme.test"
    msg["Subject"] = "Our newsletter"
    msg["Message-ID"] = make_msgid(domain="shop.test")
    html = "<table>" + cell * (size // len(cell)) + "</table>"
    msg.set_content(html, subtype="html", cte="base64")
    return msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))


def _measure(client, folder, mailbox, uid: int, raw: bytes) -> dict:
    from django.urls import reverse

    from postroom import pipeline
    from postroom.mail.ingest import FetchedMessage, store_copies
    from postroom.mail.models import ConversationMessage, Message

    (message_id,) = store_copies(folder, 1, [FetchedMessage(uid=uid, raw=raw)])
    started = time.perf_counter()
    pipeline.ingest.call([message_id], mailbox.pk)
    ingest = time.perf_counter() - started
    conversation = ConversationMessage.objects.get(message_id=message_id).conversation_id
    started = time.perf_counter()
    page = client.get(reverse("web:conversation", args=[conversation]))
    body = client.get(reverse("web:message_body", args=[message_id]))
    shown = time.perf_counter() - started
    return {
        "bytes": len(raw),
        "ingest": ingest,
        "page": shown,
        "page_bytes": len(page.content) + len(body.content),
        "status": Message.objects.get(pk=message_id).status,
    }


def main(result_path: str, quick: bool) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "postroom.settings")
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.test import Client

    from postroom.mailboxes.models import Folder, Mailbox
    from postroom.testing import hostile

    mailbox = Mailbox.objects.create(address="sales@acme.test", name="Sales", crm_rule="lead")
    folder = Folder.objects.create(mailbox=mailbox, name="INBOX", role=Folder.Role.INBOX)
    admin = get_user_model().objects.create(username="bench", is_superuser=True)
    client = Client(SERVER_NAME="127.0.0.1")
    client.force_login(admin)
    scale = 0.1 if quick else 1.0
    results = {}
    uid = 1
    for kind, build in hostile.CORPUS.items():
        defaults = build.__defaults__ or ()
        raw = build(int(defaults[0] * scale)) if defaults else build()
        results[kind] = _measure(client, folder, mailbox, uid, raw)
        results[kind]["baseline"] = _measure(
            client, folder, mailbox, uid + 1, _ordinary(min(len(raw), 2_000_000))
        )
        uid += 2
    Path(result_path).write_text(json.dumps(results))


# ----------------------------------------------------------------- the benchmark


def run(harness: Harness, table: Table) -> None:
    table.title = "hostile: each hostile email through ingest and the page, beside an ordinary one"
    result = harness.dir / "hostile_mail.json"
    say("hostile: ingesting and showing the hostile-mail corpus")
    args = [str(result), *(["--quick"] if harness.quick else [])]
    finished = harness.check(args, module=__name__)
    for kind, figures in json.loads(result.read_text()).items():
        base = figures["baseline"]
        for step in ("ingest", "page"):
            table.add(
                f"{kind} ({figures['bytes'] / 1e6:.1f} MB, {figures['status']}): {step}",
                figures[step] * 1000,
                "ms",
                baseline=base[step] * 1000,
                goal=f"< {GOAL_SECONDS:g} s",
                met=figures[step] < GOAL_SECONDS,
            )
        table.add(
            f"{kind}: page and body document",
            figures["page_bytes"] / 1000,
            "kB",
            baseline=base["page_bytes"] / 1000,
            goal=f"< {GOAL_PAGE_BYTES / 1000:,.0f} kB",
            met=figures["page_bytes"] < GOAL_PAGE_BYTES,
        )
    table.note("baseline: an ordinary HTML newsletter of the same size (at most 2 MB)")
    table.note(f"peak RSS of the process: {finished.max_rss_mb:.0f} MB")


if __name__ == "__main__":
    main(sys.argv[1], "--quick" in sys.argv[2:])
