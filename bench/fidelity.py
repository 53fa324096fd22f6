"""fidelity: every email of the public corpora through the parser, and what a reader would see.

The corpora: the standard library's test/test_email/data (when this Python build has
it) and ../shared/corpora (ruby-mail's fixtures, stalwart mail-parser's resources).
Every file is read as mail is stored: parsed by `postroom.mail.parse.parse_message`,
which is what the ingest job runs, so a ParseError is a quarantine and anything else
raised is a crash. For each email the subject, the sender, the body and the attachment
names are checked for what a reader would call garbled:

- U+FFFD, the replacement character (bytes no charset could read);
- mojibake: UTF-8 read as Latin-1 ("Ã¼", "â€™"), C1 control characters, an ISO-2022
  escape sequence or an RFC 2047 encoded word left undecoded;
- an empty sender on an email that has a From, Sender, Reply-To or Return-Path.

Where stalwart's mail-parser left its own reading (the *.json beside each message),
the subject and the sender's address are compared with it: a second opinion, counted,
not a verdict. Files that are not emails (images, JSON, licences) must be quarantined.

Runs in-process (no database is needed to parse); `python -m bench fidelity` prints
the table, `python -m bench.fidelity [-v]` lists every email with a finding.
"""

from __future__ import annotations

import json
import re
import sys
import sysconfig
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared" / "corpora"
STDLIB = Path(sysconfig.get_paths()["stdlib"]) / "test" / "test_email" / "data"
CORPORA = {
    "stdlib test_email": STDLIB,
    "ruby-mail": SHARED / "ruby-mail" / "spec" / "fixtures" / "emails",
    "stalwart mail-parser": SHARED / "stalwart-mail-parser" / "resources" / "eml",
}
# Files named like emails that are not one: a digest's preamble.
NOT_EMAIL = {"msg_19.txt"}

_MOJIBAKE = re.compile(
    r"[\u00c2\u00c3][\u0080-\u00bf]"  # UTF-8 read as Latin-1: "Ã¼", "Â "
    r"|\u00e2\u20ac"  # "â€": UTF-8 punctuation read as windows-1252
    r"|[\u0080-\u009f]"  # C1 controls: bytes of another charset
    r"|\x1b[$(]"  # an ISO-2022 escape left in the text
)
# An RFC 2047 encoded word left undecoded: a fault in a header, not in a body (a reply
# may quote raw headers).
_ENCODED_WORD = re.compile(r"=\?[\w.:*-]+\?[bBqQ]\?[^?]*\?=")
FIELDS = ("subject", "sender", "body", "attachment names")


@dataclass
class Finding:
    path: str
    field: str
    problem: str
    value: str


@dataclass
class Report:
    files: int = 0
    emails: int = 0
    parsed: int = 0
    quarantined_emails: list[str] = field(default_factory=list)
    quarantined_other: int = 0
    other_not_quarantined: list[str] = field(default_factory=list)
    crashes: list[str] = field(default_factory=list)
    clean: Counter = field(default_factory=Counter)  # field -> emails where it reads clean
    findings: list[Finding] = field(default_factory=list)
    compared: Counter = field(default_factory=Counter)
    disagreements: list[Finding] = field(default_factory=list)
    seconds: float = 0.0


def _is_email(path: Path) -> bool:
    return path.suffix in (".eml", ".txt") and path.name not in NOT_EMAIL


def _problem(value: str, field_name: str, raw: bytes) -> str:
    if "\ufffd" in value:
        # The sender's own bytes may be U+FFFD: then it is what the email says.
        return "" if b"\xef\xbf\xbd" in raw else "U+FFFD"
    if found := _MOJIBAKE.search(value):
        return f"mojibake {found.group(0)!r}"
    if field_name != "body" and (found := _ENCODED_WORD.search(value)):
        return f"encoded word left {found.group(0)!r}"
    return ""


def _has_sender_header(raw: bytes) -> bool:
    head = raw.split(b"\n\n", 1)[0].split(b"\r\n\r\n", 1)[0]
    found = re.search(rb"^(from|sender|reply-to|return-path)[ \t]*:[ \t]*\S", head, re.I | re.M)
    return bool(found)


def _stalwart(path: Path) -> dict | None:
    """Subject and sender address as stalwart's mail-parser read them, if it left a reading."""
    reading = path.with_suffix(".json")
    if not reading.is_file():
        return None
    try:
        part = json.loads(reading.read_text())["parts"][0]
    except (ValueError, KeyError, IndexError):
        return None
    found: dict[str, str] = {}
    for header in part.get("headers", []):
        value = header.get("value")
        if header.get("name") == "subject" and isinstance(value, dict) and "Text" in value:
            found.setdefault("subject", value["Text"])
        if header.get("name") == "from" and isinstance(value, dict) and "Address" in value:
            listed = value["Address"].get("List") or []
            if listed and listed[0].get("address"):
                found.setdefault("sender", listed[0]["address"].lower())
    return found


def scan(corpora: dict[str, Path] | None = None) -> Report:
    from postroom.mail.bounds import visible_text
    from postroom.mail.parse import ParseError, parse_message

    report = Report()
    started = time.perf_counter()
    for name, root in (corpora or CORPORA).items():
        if not root.is_dir():
            continue
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            if path.suffix == ".json" and "stalwart" in name:
                continue  # the second opinions, not mail
            report.files += 1
            label = f"{name}: {path.relative_to(root)}"
            raw = path.read_bytes()
            email = _is_email(path)
            report.emails += email
            try:
                parsed = parse_message(raw)
            except ParseError:
                if email:
                    report.quarantined_emails.append(label)
                else:
                    report.quarantined_other += 1
                continue
            except Exception as exc:  # noqa: BLE001 - a crash is what this counts
                report.crashes.append(f"{label}: {type(exc).__name__}: {exc}")
                continue
            if not email:
                report.other_not_quarantined.append(label)
                continue
            report.parsed += 1
            sender = f"{parsed.from_name} <{parsed.from_address}>"
            values = {
                "subject": parsed.subject,
                "sender": sender,
                "body": parsed.text or visible_text(parsed.html),
                "attachment names": " | ".join(a.filename for a in parsed.attachments),
            }
            for field_name, value in values.items():
                problem = _problem(value, field_name, raw)
                if field_name == "sender" and not (parsed.from_name or parsed.from_address):
                    problem = "empty sender" if _has_sender_header(raw) else ""
                if problem:
                    report.findings.append(Finding(label, field_name, problem, value[:120]))
                else:
                    report.clean[field_name] += 1
            other = _stalwart(path)
            for field_name, theirs in (other or {}).items():
                ours = parsed.subject if field_name == "subject" else parsed.from_address
                report.compared[field_name] += 1
                if "\ufffd" in theirs and "\ufffd" not in ours:
                    report.compared["cleaner than stalwart's " + field_name] += 1
                elif " ".join(ours.split()) != " ".join(theirs.split()):
                    report.disagreements.append(
                        Finding(label, field_name, f"stalwart reads {theirs[:80]!r}", ours[:80])
                    )
    report.seconds = time.perf_counter() - started
    return report


def run(harness, table) -> None:  # noqa: ANN001 - the bench's Harness and Table
    from .common import say

    say("fidelity: parsing every email of the corpora")
    report = scan()
    table.title = "fidelity: the public corpora through the parser, field by field"
    table.add("files read", report.files, "")
    table.add("emails among them (.eml, .txt)", report.emails, "")
    table.add("crashes", len(report.crashes), "", goal="0", met=not report.crashes)
    table.add(
        "emails quarantined",
        len(report.quarantined_emails),
        "",
        goal="0",
        met=not report.quarantined_emails,
    )
    table.add("other files quarantined (images, JSON, licences)", report.quarantined_other, "")
    table.add(
        "other files taken as email",
        len(report.other_not_quarantined),
        "",
        goal="0",
        met=not report.other_not_quarantined,
    )
    for field_name in FIELDS:
        clean = report.clean[field_name]
        table.add(
            f"{field_name} reads clean",
            clean,
            "",
            baseline=report.parsed,
            goal=f"{report.parsed}",
            met=clean == report.parsed,
        )
    for field_name in ("subject", "sender"):
        compared = report.compared[field_name]
        differ = sum(1 for d in report.disagreements if d.field == field_name)
        cleaner = report.compared["cleaner than stalwart's " + field_name]
        table.add(
            f"{field_name} as stalwart reads it", compared - differ - cleaner, "", baseline=compared
        )
        table.add(f"{field_name} decoded where stalwart has U+FFFD", cleaner, "")
    table.note("a U+FFFD that the email itself sends (its bytes EF BF BD) counts as clean")
    table.note(f"parsed in {report.seconds:.1f} s, in-process (what the ingest job runs)")
    for line in report.crashes + report.quarantined_emails + report.other_not_quarantined:
        table.note(line)
    for finding in report.findings + report.disagreements:
        table.note(f"{finding.path}: {finding.field}: {finding.problem}: {finding.value!r}")
    if not STDLIB.is_dir():
        table.note(f"this Python build has no test package: {STDLIB} is missing")


def main(argv: list[str]) -> int:
    import os

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "postroom.settings")
    from .common import Table

    table = Table("fidelity")
    run(None, table)
    table.print()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
