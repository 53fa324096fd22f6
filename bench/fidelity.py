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

import base64
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


# -- the classes of issue 20, each with the reading a mail client shows ------------------


def _mail(headers: str, body: bytes = b"x\r\n", charset: str = "ascii") -> bytes:
    head = "\r\n".join(headers.strip().splitlines()).encode(charset)
    return head + b"\r\n\r\n" + body


def _known_good() -> list[tuple[str, bytes, dict[str, str]]]:
    """(class, raw email, {field: what a reader must see}); field "body" is a substring."""
    jis_subject = base64.b64encode(b"\x1b$B-!\x1b(B" + "見積書".encode("iso2022_jp")).decode()
    gbk_mixed = (
        "From: 张伟 <zhang@gongsi.test>\r\nSubject: x\r\n".encode("gbk")
        + b'Content-Type: multipart/mixed; boundary="B"\r\n\r\n--B\r\n'
        + b"Content-Type: text/plain; charset=gb2312\r\n\r\n"
        + "请查收附件。".encode("gbk")
        + b'\r\n--B\r\nContent-Type: application/pdf; name="'
        + "报价单.pdf".encode("gbk")
        + b'"\r\n\r\n%PDF\r\n--B--\r\n'
    )
    return [
        (
            "1 Latin-1 umlauts declared",
            _mail(
                "From: a@b.test\nSubject: =?ISO-8859-1?Q?=DCberm=E4=DFige_Gr=F6=DFe?=\n"
                "Content-Type: text/plain; charset=ISO-8859-1",
                "Öl für Bär.".encode("latin-1"),
            ),
            {"subject": "Übermäßige Größe", "body": "Öl für Bär."},
        ),
        (
            "1 Latin-1 umlaut test",
            _mail(
                "From: a@b.test\nSubject: x\nContent-Type: text/plain; charset=ISO-8859-1",
                "Umlaut-Test: äöüÄÖÜß, Ça a été déjà vu".encode("latin-1"),
            ),
            {"body": "Umlaut-Test: äöüÄÖÜß, Ça a été déjà vu"},
        ),
        (
            "1 Latin-1 under a UTF-8 label",
            _mail(
                "From: a@b.test\nSubject: x\nContent-Type: text/plain; charset=utf-8",
                "Die Frösche über".encode("latin-1"),
            ),
            {"body": "Die Frösche über"},
        ),
        (
            "2 encoded word with spaces",
            _mail("From: a@b.test\nSubject: =?iso-8859-1?Q?Gr=FC=DFe aus K=F6ln?="),
            {"subject": "Grüße aus Köln"},
        ),
        (
            "2 encoded word folded inside",
            _mail("From: a@b.test\nSubject: =?utf-8?B?0J/RgNC40LLQ\n tdGC?="),
            {"subject": "Привет"},
        ),
        (
            "2 character split across words",
            _mail("From: a@b.test\nSubject: =?UTF-8?Q?K=C3?= =?UTF-8?Q?=B6ln?="),
            {"subject": "Köln"},
        ),
        (
            "2 adjacent encoded words",
            _mail("From: a@b.test\nSubject: =?utf-8?Q?Gr=C3=BC?==?utf-8?Q?=C3=9Fe?="),
            {"subject": "Grüße"},
        ),
        (
            "2 UTF-7 encoded word",
            _mail("From: a@b.test\nSubject: =?utf-7?Q?Fr+APY-sche?="),
            {"subject": "Frösche"},
        ),
        (
            "2 encoded word beside raw 8-bit",
            _mail("From: a@b.test\nSubject: Grüße =?utf-8?Q?aus_K=C3=B6ln?=", charset="utf-8"),
            {"subject": "Grüße aus Köln"},
        ),
        (
            "3 ISO-2022-JP with NEC digits",
            _mail(
                f"From: a@b.test\nSubject: =?ISO-2022-JP?B?{jis_subject}?=\n"
                "Content-Type: text/plain; charset=ISO-2022-JP",
                b'\x1b$B-"\x1b(B',
            ),
            {"subject": "①見積書", "body": "②"},
        ),
        (
            "3 Shift_JIS labelled ISO-2022-JP",
            _mail(
                "From: a@b.test\nSubject: x\nContent-Type: text/plain; charset=iso-2022-jp",
                "お世話になっております。".encode("cp932"),
            ),
            {"body": "お世話になっております。"},
        ),
        (
            "3 undeclared GBK body",
            _mail("From: a@b.test\nSubject: x", "您好，请把发票寄给我们。".encode("gbk")),
            {"body": "您好，请把发票寄给我们。"},
        ),
        (
            "3 raw GBK name and file name",
            gbk_mixed,
            {"sender": "张伟 <zhang@gongsi.test>", "attachment names": "报价单.pdf"},
        ),
        (
            "4 empty From before the real one",
            _mail("From:\nFrom: Anna <anna@b.test>\nSubject: x"),
            {"sender": "Anna <anna@b.test>"},
        ),
        (
            "4 name without address",
            _mail("From: Anna Schmidt\nSubject: x"),
            {"sender": "Anna Schmidt <>"},
        ),
        (
            "4 name with <>",
            _mail("From: Anna Schmidt <>\nSubject: x"),
            {"sender": "Anna Schmidt <>"},
        ),
        (
            "4 address without domain",
            _mail("From: Anna <anna>\nSubject: x"),
            {"sender": "Anna <anna>"},
        ),
        (
            "4 no From: Reply-To",
            _mail("Reply-To: Anna <anna@b.test>\nSubject: x"),
            {"sender": "Anna <anna@b.test>", "notice": "taken from its Reply-To"},
        ),
        (
            "4 comments are not the name",
            _mail("From: Pete(A nice \\) chap) <pete(his account)@silly.test(his host)>"),
            {"sender": "Pete <pete@silly.test>"},
        ),
        (
            "5 delivery report",
            _mail(
                "From: MAILER-DAEMON@b.test\nSubject: x\nContent-Type: multipart/report; "
                'report-type=delivery-status; boundary="B"',
                b"--B\r\nContent-Type: text/plain\r\n\r\nNot delivered.\r\n--B\r\n"
                b"Content-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; b.test\r\n"
                b"\r\nStatus: 5.1.1\r\n--B--\r\n",
            ),
            {"body": "Delivery report", "attachment names": ""},
        ),
        (
            "5 uuencode in the body",
            _mail(
                "From: a@b.test\nSubject: x", b"See.\r\nbegin 644 hi.txt\r\n#:&D*\r\n`\r\nend\r\n"
            ),
            {"attachment names": "hi.txt"},
        ),
        (
            "8 X-Loop is machine mail",
            _mail("From: a@b.test\nSubject: x\nX-Loop: desk@b.test"),
            {"kind": "auto_reply"},
        ),
        (
            "8 bulk list post",
            _mail(
                "From: a@b.test\nSubject: x\nPrecedence: bulk\nList-Unsubscribe: <mailto:u@b.test>"
            ),
            {"kind": "list"},
        ),
    ]


def known_good() -> list[tuple[str, str]]:
    """Each class of issue 20 that does not read as a mail client shows it: (class, why)."""
    from postroom.mail.parse import parse_message

    wrong = []
    for name, raw, expected in _known_good():
        parsed = parse_message(raw)
        seen = {
            "subject": parsed.subject,
            "sender": f"{parsed.from_name} <{parsed.from_address}>".strip(),
            "body": parsed.text,
            "attachment names": " | ".join(a.filename for a in parsed.attachments),
            "notice": parsed.notice,
            "kind": str(parsed.kind),
        }
        for field_name, want in expected.items():
            ok = (
                want in seen[field_name]
                if field_name in ("body", "notice")
                else seen[field_name] == want
            )
            if not ok:
                wrong.append((name, f"{field_name} is {seen[field_name][:60]!r}, not {want!r}"))
    return wrong


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
    classes = _known_good()
    wrong = known_good()
    failed = {name for name, _why in wrong}
    table.add(
        "issue 20's classes read as a mail client shows them",
        len(classes) - len(failed),
        "",
        baseline=len(classes),
        goal=f"{len(classes)}",
        met=not failed,
    )
    for name, why in wrong:
        table.note(f"class {name}: {why}")
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
