"""What kind of email a message is: written by a person, or sent by a machine.

Pure functions on the parsed message, no ORM. The CRM and the auto-replies use the
result: an auto-reply, a mailing-list post or a bounce never creates a lead and never
gets an auto-reply (two auto-responders answering each other is the classic mail loop).
Mail sent by the organisation's own users needs the database and is recognised by
`postroom.crm.capture`.

The rules, checked in this order (the first that matches wins):

1. bounce: a delivery-status report (multipart/report; report-type=delivery-status),
   X-Failed-Recipients, or mail from MAILER-DAEMON (or postmaster with a bounce subject).
   The Message-ID of the email that bounced is read from the report's returned
   message or headers, or from the text of the bounce, so that it can be linked.
2. auto_reply: Auto-Submitted other than "no" (RFC 3834), X-Autoreply, X-Autorespond,
   Precedence auto_reply/junk, X-Loop, Precedence bulk and X-Auto-Response-Suppress
   OOF/All/AutoReply (Exchange) on mail without list headers (with List-Id,
   List-Unsubscribe or List-Post and no auto-reply marker, they are a list post's), a
   read receipt (report-type=disposition-notification), or an out-of-office or
   automatic-reply subject in one of several languages.
3. list: List-Id, List-Unsubscribe, List-Post or Precedence: list.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import Message


class Kind(enum.StrEnum):
    NORMAL = "normal"
    AUTO_REPLY = "auto_reply"
    LIST = "list"
    BOUNCE = "bounce"

    @property
    def label(self) -> str:
        return _LABELS[self]


_LABELS = {
    Kind.NORMAL: "Normal",
    Kind.AUTO_REPLY: "Auto-reply",
    Kind.LIST: "Mailing list",
    Kind.BOUNCE: "Bounce",
}


@dataclass(frozen=True)
class Classification:
    kind: Kind = Kind.NORMAL
    # Which rule matched, for logs and tests: "Auto-Submitted: auto-replied".
    reason: str = ""
    # For a bounce: the Message-ID (without brackets) of the email that bounced, if found.
    bounced_message_id: str = ""


NORMAL = Classification()

_DAEMONS = frozenset({"mailer-daemon", "mail-daemon", "maildaemon", "mailerdaemon"})

# Subjects of bounces, matched only together with a machine sender (a person may well
# write "Undeliverable" in a subject).
_BOUNCE_SUBJECT = re.compile(
    r"undeliver|undelivered mail|returned mail|delivery (status notification|failure|has failed)"
    r"|mail delivery (failed|failure|system)|failure notice|delivery notification"
    r"|nicht zustellbar|unzustellbar|non remis|non recapitabile|no se puede entregar"
    r"|недоставлен|не доставлен|возвращ[её]нное сообщение",
    re.IGNORECASE,
)

# Out-of-office and automatic-reply subjects in several languages: only phrases no
# person writes as a subject of their own, as the whole subject or before a colon
# ("Automatic reply: Your order"), so "Out of office next week?" from a client stays mail.
_AUTO_REPLY_SUBJECT = re.compile(
    r"^\s*(?:\[[^\]]*\]\s*)?(?:"
    r"out of (?:the )?office(?: auto[- ]?reply)?|automatic reply|auto[- ]?reply|auto[- ]?response"
    r"|autoresponder|vacation reply|abwesenheitsnotiz|automatische antwort"
    r"|r[ée]ponse automatique|respuesta autom[áa]tica|risposta automatica"
    r"|resposta autom[áa]tica|automatisch antwoord|automatiskt svar|automatisk svar|autosvar"
    r"|odpowied[źz] automatyczna|automatyczna odpowied[źz]|automatick[áa] odpov[ěe]d[ďd]"
    r"|автоматический ответ|автоответ|自動応答|自動返信|自动回复|自動回覆|자동 응답"
    r")\s*(?:[:：\-–]|$)",
    re.IGNORECASE,
)

_MESSAGE_ID_LINE = re.compile(r"^\s*message-id\s*:\s*<?([^<>\s]+@[^<>\s]+?)>?\s*$", re.I | re.M)


def classify(
    msg: Message, headers: Mapping[str, str], *, subject: str, from_address: str, text: str
) -> Classification:
    """The kind of `msg`. `headers` maps lower-cased names to the first raw value."""
    if bounce := _bounce(msg, headers, subject=subject, from_address=from_address, text=text):
        return bounce
    if reason := _auto_reply_reason(msg, headers, subject):
        return Classification(Kind.AUTO_REPLY, reason)
    if reason := _list_reason(headers):
        return Classification(Kind.LIST, reason)
    return NORMAL


def _value(headers: Mapping[str, str], name: str) -> str:
    return " ".join(headers.get(name, "").split()).lower()


def _report_type(headers: Mapping[str, str]) -> str:
    """report-type of a multipart/report, read from the raw header (cheap for all mail)."""
    value = headers.get("content-type", "")
    if not value.lower().lstrip().startswith("multipart/report"):
        return ""
    found = re.search(r"report-type\s*=\s*\"?([\w-]+)", value, re.I)
    return found.group(1).lower() if found else ""


def _bounce(
    msg: Message, headers: Mapping[str, str], *, subject: str, from_address: str, text: str
) -> Classification | None:
    local = from_address.partition("@")[0].lower()
    if _report_type(headers) == "delivery-status":
        reason = "a delivery-status report"
    elif "x-failed-recipients" in headers:
        reason = "X-Failed-Recipients"
    elif local in _DAEMONS:
        reason = f"sent by {local}"
    elif local == "postmaster" and _BOUNCE_SUBJECT.search(subject):
        reason = "a bounce subject from postmaster"
    elif _value(headers, "return-path") == "<>" and _BOUNCE_SUBJECT.search(subject):
        reason = "a bounce subject with an empty Return-Path"
    else:
        return None
    own = _first_id(headers.get("message-id", ""))
    return Classification(Kind.BOUNCE, reason, _bounced_message_id(msg, text, own))


def _first_id(value: str) -> str:
    found = re.search(r"<([^<>\s]+)>", value)
    return found.group(1) if found else value.strip()


def _bounced_message_id(msg: Message, text: str, own: str) -> str:
    """The Message-ID of the returned email: from the report's parts, else from the text."""
    for part in msg.walk():
        ctype = part.get_content_type()
        if ctype in ("message/rfc822", "message/global") and part.is_multipart():
            returned = part.get_payload(0)
            found = _first_id(str(returned.get_all("message-id", [""])[0] or ""))
            if found and found != own:
                return found
        elif ctype in ("text/rfc822-headers", "message/rfc822-headers", "text/plain"):
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                for candidate in _MESSAGE_ID_LINE.findall(payload.decode("ascii", "replace")):
                    if candidate != own:
                        return candidate
    for candidate in _MESSAGE_ID_LINE.findall(text):
        if candidate != own:
            return candidate
    return ""


def _auto_reply_reason(msg: Message, headers: Mapping[str, str], subject: str) -> str:
    auto_submitted = _value(headers, "auto-submitted")
    if auto_submitted and auto_submitted != "no":
        return f"Auto-Submitted: {auto_submitted}"
    for name in ("x-autoreply", "x-autorespond", "x-autoreply-from", "x-mail-autoreply"):
        if name in headers and _value(headers, name) not in ("no", "false", "0"):
            return f"{name}"
    if "x-loop" in headers and not _list_headers(headers):
        # Set by list servers, ticket systems and auto-responders on what they send so
        # that they recognise it coming back: a person's mail client never writes it.
        return "X-Loop"
    precedence = _value(headers, "precedence")
    if precedence in ("auto_reply", "auto-reply", "junk"):
        return f"Precedence: {precedence}"
    if precedence == "bulk" and not _list_headers(headers):
        # Bulk with List-Unsubscribe and no auto-reply marker is a newsletter or a list
        # post (rule 3), which an auto-responder's bulk never carries.
        return "Precedence: bulk"
    suppress = _value(headers, "x-auto-response-suppress")
    # Newsletters ask for no out-of-office replies too: a request, not an auto-reply.
    asks = {"all", "oof", "autoreply"} & set(re.split(r"[\s,]+", suppress))
    if asks and not _list_headers(headers):
        return f"X-Auto-Response-Suppress: {suppress}"
    if _value(headers, "x-autogenerated") == "reply":
        return "X-Autogenerated: Reply"
    if _report_type(headers) == "disposition-notification":
        return "a read receipt"
    if _AUTO_REPLY_SUBJECT.search(subject):
        return "an automatic-reply subject"
    return ""


_LIST_HEADERS = ("list-id", "list-unsubscribe", "list-post")


def _list_headers(headers: Mapping[str, str]) -> bool:
    return any(name in headers for name in _LIST_HEADERS)


def _list_reason(headers: Mapping[str, str]) -> str:
    for name in _LIST_HEADERS:
        if name in headers:
            return name.title()
    if _value(headers, "precedence") == "list":
        return "Precedence: list"
    return ""
