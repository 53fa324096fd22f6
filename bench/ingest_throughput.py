"""ingest: parsing, threading and indexing a stored corpus, beside a bare parse of it.

A generated corpus of N emails (plain, HTML, multipart/alternative, attachments,
replies with In-Reply-To and References, several charsets and transfer encodings; the
standard library's email package with a fixed seed, so every run has the same bytes)
is stored as fetched mail into one mailbox by a first subprocess. A second one runs
the `ingest` job of postroom/pipeline.py over it in batches of 500 (what an initial
sync queues), timed, its peak RSS from wait4(); then, in the same process, the bare
standard-library parse of the same stored bytes (parse, then read the body), timed
alone. CRM capture, which the ingest job only queues, is not part of it.

    python -m bench.ingest_throughput load N RESULT.json     # run by the harness
    python -m bench.ingest_throughput ingest RESULT.json
"""

from __future__ import annotations

import json
import os
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

from .common import Harness, Table, say

BATCH = 500
GOAL_RATIO = 1 / 3
MAILBOX = "ingest@acme.test"
_WORDS = [
    "order",
    "invoice",
    "delivery",
    "price",
    "quote",
    "please",
    "kindly",
    "regards",
    "thanks",
    "meeting",
    "contract",
    "shipment",
    "pallet",
    "warehouse",
    "schedule",
    "discount",
    "payment",
    "account",
    "update",
    "request",
    "support",
    "bitte",
    "danke",
    "lieferung",
    "rechnung",
    "angebot",
    "termin",
    "merci",
    "facture",
    "livraison",
    "commande",
]
# (charset, transfer encoding, sample text in that charset's script)
_CHARSETS = (
    ("utf-8", "quoted-printable", "Grüße aus München, naïve café, 10 € — “quoted”"),
    ("utf-8", "base64", "Здравствуйте! Счёт № 42 приложен. 請查收附件。"),
    ("iso-8859-1", "quoted-printable", "Señor García, la reunión es mañana à 10h"),
    ("windows-1251", "8bit", "Добрый день, прошу выставить счёт на оплату"),
    ("koi8-r", "base64", "Поставка задерживается на два дня, извините"),
    ("iso-2022-jp", "7bit", "お世話になっております。見積書を送ります。"),
    ("us-ascii", "7bit", "Plain old ASCII, nothing fancy here"),
)


def make_corpus(count: int, to: str = MAILBOX, seed: int = 5) -> list[bytes]:
    """`count` varied emails, the same bytes for the same arguments."""
    rng = random.Random(seed)
    start = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
    senders = [f"Client {i} <client{i}@customer{i % 60}.test>" for i in range(300)]
    sent: list[tuple[str, str, list[str], str]] = []  # (message-id, subject, references, from)
    corpus = []
    for i in range(count):
        msg = EmailMessage()
        when = start + timedelta(minutes=7 * i + rng.randrange(7))
        kind = rng.random()
        sender = rng.choice(senders)
        if sent and kind < 0.3:  # a reply in an existing thread
            parent_id, parent_subject, parent_refs, parent_from = rng.choice(sent[-400:])
            subject = (
                parent_subject if parent_subject.startswith("Re: ") else f"Re: {parent_subject}"
            )
            references = [*parent_refs[-8:], parent_id]
            msg["In-Reply-To"] = f"<{parent_id}>"
            msg["References"] = " ".join(f"<{r}>" for r in references)
            sender = parent_from if rng.random() < 0.3 else sender
        else:
            subject = f"{rng.choice(_WORDS).title()} {rng.choice(_WORDS)} #{i}"
            references = []
        charset, cte, sample = rng.choice(_CHARSETS)
        msg["From"] = sender
        msg["To"] = to
        if rng.random() < 0.2:
            msg["Cc"] = rng.choice(senders)
        msg["Subject"] = f"{subject} {sample[:12]}" if charset != "us-ascii" else subject
        msg["Date"] = format_datetime(when)
        message_id = f"{i}.{rng.getrandbits(48):012x}@corpus.test"
        msg["Message-ID"] = f"<{message_id}>"
        words = " ".join(rng.choice(_WORDS) for _ in range(rng.randrange(40, 600)))
        text = f"Hello,\n\n{sample}\n\n{words}\n\n-- \n{sender}\n"
        if kind < 0.3:
            text += "\n> " + "\n> ".join(rng.choice(_WORDS) for _ in range(20))
        html = (
            f"<html><body><p>{sample}</p><p>{words}</p>"
            "<table><tr><td>1</td></tr></table></body></html>"
        )
        shape = rng.random()
        if shape < 0.35:  # plain text
            msg.set_content(text, charset=charset, cte=cte)
        elif shape < 0.5:  # HTML only
            msg.set_content(html, subtype="html", charset="utf-8", cte="quoted-printable")
        else:  # text with an HTML alternative, sometimes with attachments
            msg.set_content(text, charset=charset, cte=cte)
            msg.add_alternative(html, subtype="html", charset="utf-8", cte="quoted-printable")
            if shape > 0.8:
                msg.add_attachment(
                    rng.randbytes(rng.randrange(2_000, 40_000)),
                    maintype="application",
                    subtype="pdf",
                    filename=f"Rechnung-{i}.pdf" if rng.random() < 0.5 else f"offer {i}.pdf",
                )
                if shape > 0.95:
                    msg.add_attachment(
                        "a;b\n1;2\n", subtype="csv", charset="utf-8", filename="table.csv"
                    )
        for n, part in enumerate(msg.walk()):  # not the library's random boundaries
            if part.is_multipart():
                part.set_boundary(f"=_part_{i}_{n}")
        corpus.append(bytes(msg))
        sent.append((message_id, subject, references, sender))
    return corpus


# ----------------------------------------------------------------------- subprocesses


def _django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "postroom.settings")
    import django

    django.setup()


def load(count: int, result: Path) -> None:
    """Store the corpus as fetched mail of one mailbox, in sync's batches."""
    _django()
    from django.db import transaction

    from postroom.mail.ingest import FetchedMessage, store_copies
    from postroom.mailboxes.actions import ConnectionSettings, do_add_mailbox

    # An IMAP mailbox that is never contacted: its INBOX holds the corpus as if fetched.
    conn = ConnectionSettings(
        address=MAILBOX,
        name="Ingest",
        imap_host="127.0.0.1",
        imap_port=1,
        imap_security="none",
        username="ingest",
        password="unused",  # noqa: S106 - never used: nothing logs in
    )
    mailbox = do_add_mailbox(conn, crm_rule="none")
    folder = mailbox.folders.get(name="INBOX")
    corpus = make_corpus(count)
    stored = 0
    for start in range(0, count, BATCH):
        batch = [
            FetchedMessage(uid=start + i + 1, raw=raw)
            for i, raw in enumerate(corpus[start : start + BATCH])
        ]
        with transaction.atomic():
            stored += len(store_copies(folder, 1, batch))
    size = sum(map(len, corpus)) / count / 1024
    result.write_text(json.dumps({"stored": stored, "mailbox": mailbox.pk, "size_kb": size}))


def ingest(result: Path) -> None:
    """The ingest job over everything stored, in batches; then the bare parse of it."""
    _django()
    import email
    import email.policy

    from postroom import pipeline
    from postroom.mail import rawstore
    from postroom.mail.models import Message
    from postroom.mailboxes.models import Mailbox

    mailbox = Mailbox.objects.get(address=MAILBOX)
    ids = list(
        Message.objects.filter(status=Message.Status.RECEIVED)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    started = time.perf_counter()
    for start in range(0, len(ids), BATCH):
        pipeline.ingest.call(ids[start : start + BATCH], mailbox.pk)
    ingest_seconds = time.perf_counter() - started
    counts = _counts(Message)

    parse_seconds = 0.0
    for start in range(0, len(ids), BATCH):
        shas = Message.objects.filter(pk__in=ids[start : start + BATCH]).values_list(
            "raw_sha256", flat=True
        )
        raws = list(rawstore.get_many(shas).values())
        began = time.perf_counter()
        for raw in raws:
            body = email.message_from_bytes(raw, policy=email.policy.default).get_body()
            if body is not None:
                body.get_content()
        parse_seconds += time.perf_counter() - began
    result.write_text(
        json.dumps(
            {
                "messages": len(ids),
                "ingest_seconds": ingest_seconds,
                "parse_seconds": parse_seconds,
                "statuses": counts,
                "conversations": _conversations(),
            }
        )
    )


def _counts(model) -> dict[str, int]:
    from django.db.models import Count

    rows = model.objects.values("status").annotate(n=Count("pk")).values_list("status", "n")
    return dict(rows)


def _conversations() -> int:
    from postroom.mail.models import Conversation

    return Conversation.objects.count()


# ----------------------------------------------------------------------- the benchmark


def run(harness: Harness, table: Table) -> None:
    n = 2_000 if harness.quick else 20_000
    table.title = f"ingest: parse, thread and index a generated corpus of {n:,} messages"
    loaded, done = harness.dir / "loaded.json", harness.dir / "ingested.json"
    say(f"ingest: generating and storing {n:,} messages")
    harness.check(["load", str(n), str(loaded)], module="bench.ingest_throughput")
    facts = json.loads(loaded.read_text())
    say("ingest: the ingest job over all of them, then the bare parse")
    finished = harness.check(["ingest", str(done)], module="bench.ingest_throughput")
    result = json.loads(done.read_text())
    messages = result["messages"]
    bare = messages / result["parse_seconds"]
    rate = messages / result["ingest_seconds"]
    table.add("bare email parse + get_body().get_content()", bare, "msg/s")
    table.add(
        "ingest job (parse, thread, index), batches of 500",
        rate,
        "msg/s",
        baseline=bare,
        goal=f">= {GOAL_RATIO:.2f}x",
        met=rate >= GOAL_RATIO * bare,
    )
    table.add("  time for all", result["ingest_seconds"], "s")
    table.add("ingest process peak RSS", finished.max_rss_mb, "MB")
    statuses = result["statuses"]
    table.note(
        f"{facts['stored']:,} stored ({facts['size_kb']:.1f} KB on average), "
        f"{statuses.get('parsed', 0):,} parsed, {statuses.get('quarantined', 0):,} quarantined, "
        f"{result['conversations']:,} conversations"
    )
    table.note(
        "both rates in the same process, without start-up; the bare parse reads "
        "the same stored bytes, its database reads not timed"
    )


if __name__ == "__main__":
    if sys.argv[1] == "load":
        load(int(sys.argv[2]), Path(sys.argv[3]))
    else:
        ingest(Path(sys.argv[2]))
