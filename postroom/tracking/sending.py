"""Tracked copies of an Outbox email, made when it is delivered.

The Outbox keeps one email (its raw bytes, also what goes to the Sent folder, without
any tracking). With tracking on, delivery sends instead:
- one copy per external recipient, its HTML part carrying that recipient's image and
  links (the plain-text part and every header stay as they are, the Message-ID too);
- one untracked copy (the Outbox's bytes) to all the organisation's own recipients
  and to those who opted out (TrackingOptOut).
Each copy is one SMTP transaction. A copy the server took is written down at once
(TrackedEmail.delivered), so a retry after a later copy failed sends only the rest.
"""

from collections.abc import Callable
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser, Parser

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction

from postroom.mailboxes.models import Mailbox
from postroom.outbound.models import OutboxMessage

from . import rewrite, tokens
from .models import TrackedEmail
from .switches import opted_out, tracking_wanted

_PARSER = BytesParser(policy=policy.default)
_WIRE_POLICY = policy.SMTP.clone(cte_type="7bit")
_UTF8_PARSER = Parser(policy=policy.default.clone(utf8=True))
_UTF8_WIRE_POLICY = _WIRE_POLICY.clone(utf8=True)


@dataclass
class Copy:
    recipients: list[str]
    raw: bytes
    on_sent: Callable[[], None]


def base_url() -> str:
    return settings.POSTROOM["TRACKING_URL"].rstrip("/")


def image_url(outbox_id: int, recipient: int) -> str:
    return f"{base_url()}/t/o/{tokens.open_token(outbox_id, recipient)}.gif"


def link_url(outbox_id: int, recipient: int, link: int) -> str:
    return f"{base_url()}/t/c/{tokens.click_token(outbox_id, recipient, link)}"


def organisation_test() -> Callable[[str], bool]:
    """Whether an address is the organisation's own: a mailbox, a user, an internal
    domain (the CRM settings' internal domains). Their copies are never tracked."""
    from postroom.crm.organisation import internal_domains

    ours = {a.lower() for a in Mailbox.objects.values_list("address", flat=True)}
    ours |= {a.lower() for a in get_user_model().objects.values_list("email", flat=True) if a}
    domains = internal_domains()
    return lambda address: address.lower() in ours or address.lower().rpartition("@")[2] in domains


def _html_parts(message):
    for part in message.walk():
        if part.get_content_type() == "text/html" and not part.is_attachment():
            yield part


def _parsed(raw: bytes) -> tuple[EmailMessage, policy.EmailPolicy]:
    """The email to rewrite, and the policy that writes it back.

    An internationalised email (RFC 6532: a UTF-8 address, or In-Reply-To naming a
    UTF-8 Message-ID) is read and written as UTF-8: parsed from bytes, its UTF-8 headers
    would come back as "unknown-8bit" encoded words, and a reply would no longer name
    the email it answers.
    """
    end = raw.find(b"\r\n\r\n")
    if not raw[: end if end >= 0 else len(raw)].isascii():
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            pass
        else:
            return _UTF8_PARSER.parsestr(text), _UTF8_WIRE_POLICY
    return _PARSER.parsebytes(raw), _WIRE_POLICY


def tracked_raw(raw: bytes, outbox_id: int, recipient: int, links: list[str]) -> bytes:
    """The email's bytes with its HTML tracked for one recipient."""
    message, wire = _parsed(raw)
    for part in _html_parts(message):
        html = rewrite.rewrite(
            part.get_content(),
            links,
            lambda i: link_url(outbox_id, recipient, i),
            image_url(outbox_id, recipient),
        )
        part.set_content(html, subtype="html", cte="quoted-printable")
    return message.as_bytes(policy=wire)


def links_in(raw: bytes) -> list[str]:
    found: list[str] = []
    for part in _html_parts(_PARSER.parsebytes(raw)):
        found += [url for url in rewrite.links_of(part.get_content()) if url not in found]
    return found


def _mark_delivered(outbox_id: int, recipients: list[str]) -> None:
    with transaction.atomic():
        row = TrackedEmail.objects.select_for_update().get(pk=outbox_id)
        row.delivered = list(dict.fromkeys([*row.delivered, *recipients]))
        row.save(update_fields=["delivered"])


def tracked_copies(outbox: OutboxMessage) -> list[Copy] | None:
    """The copies to send instead of the one email; None: send it as it is."""
    tracked = TrackedEmail.objects.filter(pk=outbox.pk).first()
    if tracked is None:
        if not tracking_wanted(outbox):
            return None
        is_ours, refused = organisation_test(), opted_out(outbox.recipients)
        external = [r for r in outbox.recipients if not is_ours(r) and r not in refused]
        if not external:
            return None
        raw = bytes(outbox.raw)
        tracked, _ = TrackedEmail.objects.get_or_create(
            outbox=outbox, defaults={"recipients": external, "links": links_in(raw)}
        )
    raw = bytes(outbox.raw)
    done = set(tracked.delivered)
    internal = [r for r in outbox.recipients if r not in tracked.recipients and r not in done]
    copies = []
    if internal:
        copies.append(Copy(internal, raw, lambda: _mark_delivered(outbox.pk, internal)))
    for i, recipient in enumerate(tracked.recipients):
        if recipient in done:
            continue
        copies.append(
            Copy(
                [recipient],
                tracked_raw(raw, outbox.pk, i, tracked.links),
                lambda r=recipient: _mark_delivered(outbox.pk, [r]),
            )
        )
    return copies
