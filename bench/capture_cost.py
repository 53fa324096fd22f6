"""capture: what CRM capture adds to ingest, with 50,000 contacts in the database.

The same run ingests (parse, thread, index: the `ingest` job) batches of 500 fresh
emails with CRM capture off and on, alternating rounds so that drift hits both
equally; "on" runs the `capture` job on each batch right after its ingest. The mailbox's
rule is contact-deal (the heaviest: a contact and a deal per new person). Senders: half
are known contacts (any of 50,000), a fifth new people at one of 5,000 known company
domains (they join the company), the rest unknown (a contact and a deal each).

Run by the harness as `python -m bench.capture_cost RESULT.json [--quick]` inside the
benchmark's installation; `run()` prints the table.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

from .common import Harness, Table, say

GOAL_COST = 0.30
CONTACTS = 50_000
COMPANIES = 5_000
BATCH = 500


# ----------------------------------------------------------------- in the subprocess


def _seed(contacts: int, companies: int) -> None:
    from django.contrib.auth import get_user_model

    from postroom.crm.models import Company, CompanyDomain, Contact, ContactEmail

    # Every client has a manager, as in a real CRM: 20 colleagues share them.
    managers = get_user_model().objects.bulk_create(
        [get_user_model()(username=f"manager{i}", email=f"manager{i}@acme.test") for i in range(20)]
    )
    made = Company.objects.bulk_create(
        [Company(name=f"Company {i}") for i in range(companies)], batch_size=2000
    )
    CompanyDomain.objects.bulk_create(
        [CompanyDomain(company=c, domain=f"company{i}.test") for i, c in enumerate(made)],
        batch_size=2000,
    )
    for start in range(0, contacts, 5000):
        people = Contact.objects.bulk_create(
            [
                Contact(
                    name=f"Person {i}", company=made[i % companies], responsible=managers[i % 20]
                )
                for i in range(start, min(start + 5000, contacts))
            ]
        )
        ContactEmail.objects.bulk_create(
            [
                ContactEmail(
                    contact=p, email=f"person{start + n}@company{(start + n) % companies}.test",
                    is_primary=True,
                )
                for n, p in enumerate(people)
            ]
        )  # fmt: skip


def _emails(count: int, tag: str, rng: random.Random, to: str) -> list[bytes]:
    from postroom.testing.mail import make_email

    body = "Hello,\n\n" + ("please send us your offer for the items below. " * 40) + "\n"
    found = []
    for i in range(count):
        roll = rng.random()
        if roll < 0.5:
            n = rng.randrange(CONTACTS)
            sender = f"person{n}@company{n % COMPANIES}.test"
        elif roll < 0.7:
            sender = f"new.{tag}.{i}@company{rng.randrange(COMPANIES)}.test"
        else:
            sender = f"someone.{tag}.{i}@unknown{i}.test"
        found.append(
            make_email(
                sender=f"Sender {i} <{sender}>",
                to=to,
                subject=f"Request {tag} {i}",
                body=body,
                message_id=f"<{tag}.{i}@bench.test>",
            )
        )
    return found


def _round(folder, mailbox, raws: list[bytes], first_uid: int, capture_on: bool) -> float:
    """Seconds to ingest (and, when on, capture) the emails, stored beforehand."""
    from django.db import transaction

    from postroom import pipeline
    from postroom.mail.ingest import FetchedMessage, store_copies

    with transaction.atomic():
        ids = store_copies(
            folder, 1, [FetchedMessage(uid=first_uid + i, raw=r) for i, r in enumerate(raws)]
        )
    started = time.perf_counter()
    for start in range(0, len(ids), BATCH):
        chunk = ids[start : start + BATCH]
        pipeline.ingest.call(chunk, mailbox.pk)  # enqueues capture (not run) either way
        if capture_on:
            pipeline.capture.call(chunk, mailbox.pk)
    return time.perf_counter() - started


def main(result_path: str, quick: bool) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "postroom.settings")
    import django

    django.setup()
    from postroom.crm.models import Contact, Deal
    from postroom.mailboxes.models import Folder, Mailbox

    per_round, pairs = (125, 4) if quick else (250, 8)
    started = time.perf_counter()
    _seed(CONTACTS, COMPANIES)
    seeded = time.perf_counter() - started
    mailbox = Mailbox.objects.create(
        address="sales@acme.test", name="Sales", crm_rule="contact-deal"
    )
    folder = Folder.objects.create(mailbox=mailbox, name="(bench)", role=Folder.Role.INBOX)
    rng = random.Random(6)
    uid = 1

    def timed(mode: str, count: int) -> float:
        nonlocal uid
        raws = _emails(count, f"{mode}{uid}", rng, mailbox.address)
        took = _round(folder, mailbox, raws, uid, capture_on=mode == "on")
        uid += len(raws)
        return took

    timed("off", 50), timed("on", 50)  # warm-up (caches, query plans), not counted
    # Pairs of rounds, the order swapped every other pair, so that a machine busy with
    # something else for a while weighs on both sides; the median pair is the figure.
    seconds = {"off": 0.0, "on": 0.0}
    costs = []
    for pair in range(pairs):
        order = ("off", "on") if pair % 2 == 0 else ("on", "off")
        took = {mode: timed(mode, per_round) for mode in order}
        seconds["off"] += took["off"]
        seconds["on"] += took["on"]
        costs.append(1 - took["off"] / took["on"])
    counted = per_round * pairs
    Path(result_path).write_text(
        json.dumps(
            {
                "messages": counted,
                "off_seconds": seconds["off"],
                "on_seconds": seconds["on"],
                "seed_seconds": seeded,
                "median_cost": statistics.median(costs),
                "costs": costs,
                "contacts": Contact.objects.count(),
                "deals": Deal.objects.count(),
            }
        )
    )


# ----------------------------------------------------------------- the benchmark


def run(harness: Harness, table: Table) -> None:
    table.title = f"capture: ingest with CRM capture off and on, {CONTACTS:,} contacts"
    result = harness.dir / "capture_cost.json"
    say(f"capture: seeding {CONTACTS:,} contacts, then ingesting with capture off and on")
    harness.check([str(result), *(["--quick"] if harness.quick else [])], module=__name__)
    data = json.loads(result.read_text())
    n = data["messages"]
    off = n / data["off_seconds"]
    on = n / data["on_seconds"]
    cost = data["median_cost"]
    table.add("ingest, CRM capture off", off, "msg/s")
    table.add("ingest + CRM capture (contact-deal rule)", on, "msg/s", baseline=off)
    table.add(
        "capture's cost (1 - off/on time, median pair)",
        cost * 100,
        "%",
        goal=f"< {GOAL_COST * 100:.0f} %",
        met=cost < GOAL_COST,
    )
    table.note("cost of each pair: " + ", ".join(f"{c * 100:.0f} %" for c in data["costs"]))
    table.note(
        f"{n:,} emails each way, in rounds of {n // len(data['costs'])}; seeding took "
        f"{data['seed_seconds']:.1f} s; {data['contacts']:,} contacts and "
        f"{data['deals']:,} deals at the end"
    )


if __name__ == "__main__":
    main(sys.argv[1], "--quick" in sys.argv[2:])
