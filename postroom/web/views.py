import logging
import re
from dataclasses import dataclass
from urllib.parse import quote

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.core.signing import BadSignature, TimestampSigner
from django.db.models import Prefetch
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import content_disposition_header, url_has_allowed_host_and_scheme
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.http import require_GET, require_POST

from postroom.accounts.actions import do_mark_notifications_read
from postroom.crm.access import items_of_messages, responsibles_visible_to
from postroom.crm.items import label_of, title_of, url_of
from postroom.crm.organisation import rule_mailboxes
from postroom.mail import attachments, rawstore
from postroom.mail.bounds import DISPLAY_TEXT_CHARS, cut, html_too_complex, visible_text
from postroom.mail.models import (
    Attachment,
    Conversation,
    ConversationMessage,
    Message,
    listed_conversations,
    quarantined_in,
)
from postroom.mail.parse import ParseError, parse_message
from postroom.mail.quotes import fold_html, split_reply
from postroom.mail.sanitize import INLINE_IMAGE_TYPES, sanitize_html, text_to_html
from postroom.mail.search import search
from postroom.mailboxes import personal
from postroom.mailboxes.access import mailboxes_for
from postroom.mailboxes.actions import LOCAL_FOLDERS, MailboxError, do_choose_folders
from postroom.mailboxes.models import Folder, MailboxGrant
from postroom.sync.imap import SyncError
from postroom.sync.service import delete_from_mailbox

from .access import get_conversation_for_user, get_mailbox_for_user, get_message_for_user
from .crm_save_views import annotate_conversation
from .inbox_views import conversation_workflow
from .search_form import SearchForm

logger = logging.getLogger(__name__)

PAGE_SIZE = 50
# "Show original" renders at most this much as text; the .eml download is always whole.
ORIGINAL_SHOWN_CHARS = 1_000_000

# The message body document may show images from Postroom itself (inline cid: parts)
# and, when the reader allowed them, from anywhere; nothing else loads, nothing runs
# (the sandbox has no allow-scripts), nothing submits, and only Postroom may frame it.
_BODY_CSP = (
    "default-src 'none'; img-src {images}; style-src 'unsafe-inline'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'self'; "
    "sandbox allow-popups allow-popups-to-escape-sandbox"
)
# Served parts and raw bytes are data, never a document that could run.
_DATA_CSP = "default-src 'none'; sandbox"

# Inline-image URLs carry a signed token naming the reader: the sandboxed body has an
# opaque origin, so the browser treats its image requests as cross-site and withholds
# the SameSite=Lax session cookie. The token is minted by the (logged-in) body view and
# the reader's access is checked again when the image is served.
_CID_SIGNER = TimestampSigner(salt="postroom.web.message_inline")
_CID_MAX_AGE = 24 * 3600


def _lock_down(response: HttpResponse, csp: str) -> HttpResponse:
    response["Content-Security-Policy"] = csp
    response["X-Content-Type-Options"] = "nosniff"
    response["Referrer-Policy"] = "no-referrer"
    return response


def _inline_parts(message: Message) -> dict[str, int]:
    """The message's own raster-image parts: Content-ID (and its lower case, for clients
    that change the case of the reference but not of the header) to the part's position."""
    found: dict[str, int] = {}
    rows = (
        Attachment.objects.filter(message=message, content_type__in=INLINE_IMAGE_TYPES)
        .exclude(content_id="")
        .order_by("-position")  # the first part of a Content-ID wins
        .values_list("content_id", "position")
    )
    for content_id, position in rows:
        found[content_id.lower()] = found[content_id] = position
    return found


def _cid_url(message: Message, user):
    """The sanitiser's cid: resolver: the URL of the message's own inline image by its
    position, never by the Content-ID (a hostile one such as "../../admin" would be a
    path); None, so the reference is dropped, for anything not among its image parts."""
    parts: dict[str, int] | None = None

    def url(content_id: str) -> str | None:
        nonlocal parts
        if parts is None:
            parts = _inline_parts(message)
        position = parts.get(content_id) or parts.get(content_id.lower())
        if position is None:
            return None
        value = f"{user.pk}:{message.pk}:{position}"
        token = _CID_SIGNER.sign(value)[len(value) + 1 :]
        path = reverse("web:message_inline", args=[message.pk, position])
        return f"{path}?u={user.pk}&t={token}"

    return url


def _cid_reader(request: HttpRequest, message_id: int, position: int):
    """The user a valid inline-image token names; else the session's user."""
    user_id, token = request.GET.get("u", ""), request.GET.get("t", "")
    if not (user_id and token):
        return request.user
    try:
        _CID_SIGNER.unsign(f"{user_id}:{message_id}:{position}:{token}", max_age=_CID_MAX_AGE)
    except BadSignature:  # also raised for an expired token
        raise Http404 from None
    return get_object_or_404(get_user_model(), pk=user_id, is_active=True)


def _eml_filename(message: Message) -> str:
    name = " ".join(re.sub(r"[^\w\- ]+", " ", message.subject).split())[:80].strip()
    return f"{name or f'message-{message.pk}'}.eml"


@dataclass(frozen=True)
class ShownMessage:
    """One message as the conversation page shows it."""

    message: Message
    body_url: str  # the sandboxed HTML document, for messages with an HTML part
    text_html: str  # plain text escaped and linkified, for messages without one
    quoted_html: str  # the quoted history and signature of text_html, folded away
    blocked_remote: int
    images_shown: bool
    sender_trusted: bool
    # Why its HTML is shown as text ("elements nested more than 1,000 deep"), or "".
    too_complex: str = ""
    # Only the first part of the body is shown: "Show all" serves the rest.
    partial: bool = False


def _shown(message: Message, user, images_for: set[str]) -> ShownMessage:
    trusted = user.shows_images_from(message.from_address)
    images = trusted or str(message.pk) in images_for
    blocked = 0
    too_complex = html_too_complex(message.html_body) if message.html_body else None
    if message.html_body and not too_complex and not images:
        blocked = sanitize_html(message.html_body, allow_remote_images=False).blocked_remote
    body_url = reverse("web:message_body", args=[message.pk])
    if message.html_body and not too_complex:
        text, partial = "", message.body_truncated
    else:
        # Bounded before the reply is split and linkified: both are linear but not cheap,
        # and a 30 MB text must still make a small page.
        whole = visible_text(message.html_body) if too_complex else message.text_body
        text, partial = cut(whole, DISPLAY_TEXT_CHARS)
        partial = partial or message.body_truncated
    reply, quoted = split_reply(text) if text else ("", "")
    return ShownMessage(
        message=message,
        body_url=f"{body_url}?images=1" if images else body_url,
        text_html=text_to_html(reply) if reply else "",
        quoted_html=text_to_html(quoted) if quoted else "",
        blocked_remote=blocked,
        images_shown=images,
        sender_trusted=trusted,
        too_complex=too_complex or "",
        partial=partial,
    )


@login_required
def home(request):
    return redirect("web:inbox")  # the inbox is home: what waits for the user


@login_required
def mailbox_list(request):
    # The user's BCC tracker has no server to show or configure: a section of its own.
    context = {
        "mailboxes": personal.listed_mailboxes(request.user),
        "tracker_mailbox": personal.tracker_mailbox(request.user),
        "managed": set(
            mailboxes_for(request.user, MailboxGrant.Level.MANAGE).values_list("pk", flat=True)
        ),
    }
    return render(request, "web/mailbox_list.html", context)


@login_required
def conversation_list(request, mailbox_id: int):
    mailbox = get_mailbox_for_user(request.user, mailbox_id)
    conversations = listed_conversations(mailbox)
    page = Paginator(conversations, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "web/conversation_list.html",
        {
            "mailbox": mailbox,
            "page": page,
            "quarantined": quarantined_in(mailbox).count(),
            # Its managers (or a personal mailbox's owner) may change its password here.
            "manages": mailboxes_for(request.user, MailboxGrant.Level.MANAGE)
            .filter(pk=mailbox.pk)
            .exists(),
        },
    )


@login_required
def conversation_detail(request, conversation_id: int):
    conversation = get_conversation_for_user(request.user, conversation_id)
    images_for = set(request.GET.getlist("images"))
    emails = [
        _shown(message, request.user, images_for)
        # Only what the mailbox still holds: a message deleted here leaves the view.
        for message in conversation.messages.filter(copies__mailbox=conversation.mailbox)
        .distinct()
        .order_by("date", "created_at")
        .prefetch_related(
            Prefetch("attachments", Attachment.objects.filter(is_inline=False), to_attr="files")
        )
    ]
    # The CRM items each email is on, as far as the reader's roles let them see items.
    on_items = items_of_messages(request.user, [shown.message.pk for shown in emails])
    # Whose CRM rule decided each email (of all the mailboxes that got it).
    rules = rule_mailboxes(on_items)
    for shown in emails:
        shown.message.crm_rule_of = rules.get(shown.message.pk, "")
        shown.message.crm_items = on_items.get(shown.message.pk, [])
        shown.message.crm_links = [
            (label_of(item), title_of(item), url_of(item)) for item in shown.message.crm_items
        ]
    # The "Save to CRM" and "Move to…" forms of each email (crm_save_views.py).
    crm_forms = annotate_conversation(request.user, emails)
    # Not "messages": base.html shows django.contrib.messages under that name.
    return render(
        request,
        "web/conversation_detail.html",
        {
            "conversation": conversation,
            "mailbox": conversation.mailbox,
            "emails": emails,
            **crm_forms,
            **conversation_workflow(request.user, conversation),
        },
    )


@login_required
@require_GET
def search_messages(request):
    """Full-text search with filters; only mail of mailboxes the user may read."""
    form = SearchForm(request.user, request.GET)
    # Filtering by a responsible person reveals which mail is on their CRM items: only
    # people whose items the user may read are offered (and accepted).
    form.fields["responsible"].queryset = responsibles_visible_to(request.user)
    results = None
    if form.is_valid() and form.has_criteria():
        page = _page_number(request.GET.get("page"))
        results = search(
            request.user, **form.search_arguments(), limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE
        )
    return render(
        request,
        "web/search.html",
        {"form": form, "results": results, "search_query": form.data.get("q", "")},
    )


def _page_number(value: str | None) -> int:
    try:
        return min(max(int(value or 1), 1), 1000)  # deep pages cost a scan and nobody reads them
    except ValueError:
        return 1


@login_required
@require_GET
@xframe_options_sameorigin
def message_body(request, message_id: int):
    """The message body as a document of its own, for the sandboxed iframe."""
    message = get_message_for_user(request.user, message_id)
    images = request.GET.get("images") == "1" or request.user.shows_images_from(
        message.from_address
    )
    is_html = bool(message.html_body) and not html_too_complex(message.html_body)
    if is_html:
        # Quoted history folded before sanitising: the markers are classes the sanitiser drops.
        body = sanitize_html(
            fold_html(message.html_body),
            allow_remote_images=images,
            cid_url=_cid_url(message, request.user),
        ).html
    else:
        text = visible_text(message.html_body) if message.html_body else message.text_body
        body = text_to_html(cut(text, DISPLAY_TEXT_CHARS)[0])
    response = render(
        request, "web/message_body.html", {"message": message, "body": body, "is_html": is_html}
    )
    response["Cache-Control"] = "private, no-cache"
    return _lock_down(
        response, _BODY_CSP.format(images="'self' https: http:" if images else "'self'")
    )


def _raw_of(message: Message) -> bytes | None:
    """The message's stored bytes, or None when they are missing or damaged (a lost pack
    file): logged with the pack and the reason for the administrator."""
    try:
        return rawstore.get(message.raw_sha256)
    except rawstore.Unreadable as exc:
        logger.error("raw bytes of message %s unreadable: %s", message.pk, exc)
        return None


def _unreadable() -> HttpResponse:
    return HttpResponse(
        "The stored original of this email cannot be read (its file is missing or "
        "damaged). The error is in the server's log; an administrator can restore the "
        "data directory from a backup.",
        status=500,
        content_type="text/plain; charset=utf-8",
    )


@require_GET
def message_inline(request, message_id: int, position: int):
    """An inline image of the message (its part at `position`), referenced from its HTML
    as cid:; raster images only.

    No login redirect: an anonymous request without a valid token gets 404, like a
    reader without access.
    """
    message = get_message_for_user(_cid_reader(request, message_id, position), message_id)
    part = get_object_or_404(
        Attachment, message=message, position=position, content_type__in=INLINE_IMAGE_TYPES
    )
    response = HttpResponse(attachments.read(part), content_type=part.content_type)
    response["Cache-Control"] = "private, max-age=86400"  # a stored message never changes
    return _lock_down(response, _DATA_CSP)


@login_required
@require_GET
def message_original(request, message_id: int):
    """'Show original': the raw message with every header, as escaped text."""
    message = get_message_for_user(request.user, message_id)
    stored = _raw_of(message)
    if stored is None:
        return _unreadable()
    raw = stored.decode("utf-8", errors="replace")
    return render(
        request,
        "web/message_original.html",
        {
            "message": message,
            "raw": raw[:ORIGINAL_SHOWN_CHARS],
            "truncated": len(raw) > ORIGINAL_SHOWN_CHARS,
            "conversation": _conversation_for(request.user, message),
        },
    )


@login_required
@require_GET
def message_text(request, message_id: int):
    """'Show all': the whole body as plain text, read again from the raw message (the
    database keeps only its first part), for the browser to show as a text file."""
    message = get_message_for_user(request.user, message_id)
    stored = _raw_of(message)
    if stored is None:
        return _unreadable()
    try:
        parsed = parse_message(stored)
    except ParseError:  # quarantined: its raw bytes are all there is to show
        return redirect("web:message_original", message.pk)
    text = parsed.text or visible_text(parsed.html)
    response = HttpResponse(text, content_type="text/plain; charset=utf-8")
    return _lock_down(response, _DATA_CSP)


@login_required
@require_GET
def message_eml(request, message_id: int):
    """The raw message, byte for byte, as an .eml download."""
    message = get_message_for_user(request.user, message_id)
    raw = _raw_of(message)
    if raw is None:
        return _unreadable()
    response = HttpResponse(raw, content_type="message/rfc822")
    response["Content-Disposition"] = content_disposition_header(True, _eml_filename(message))
    return _lock_down(response, _DATA_CSP)


@login_required
@require_GET
def message_attachment(request, message_id: int, attachment_id: int):
    """An attachment, as a download with its real name and type."""
    message = get_message_for_user(request.user, message_id)
    attachment = get_object_or_404(Attachment, pk=attachment_id, message=message)
    response = HttpResponse(attachments.read(attachment), content_type=attachment.content_type)
    response["Content-Disposition"] = _attachment_disposition(attachment.filename)
    response["Cache-Control"] = "private, max-age=86400"  # a stored attachment never changes
    return _lock_down(response, _DATA_CSP)


def _attachment_disposition(filename: str) -> str:
    """Content-Disposition for a download (RFC 6266): an ASCII `filename` for old clients
    and the exact name, UTF-8 percent-encoded (RFC 8187), in `filename*`."""
    fallback = "".join(c if " " <= c < "\x7f" and c not in '"\\' else "_" for c in filename)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def _conversation_for(user, message: Message) -> Conversation | None:
    link = (
        ConversationMessage.objects.filter(message=message, mailbox__in=mailboxes_for(user))
        .select_related("conversation")
        .first()
    )
    return link.conversation if link else None


def _back_to_message(request: HttpRequest, message: Message):
    target = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return redirect(target)
    conversation = _conversation_for(request.user, message)
    if conversation is None:
        return redirect("web:message_original", message.pk)
    return redirect("web:conversation", conversation.pk)


@login_required
@require_POST
def allow_sender_images(request, message_id: int):
    """Always show remote images in mail from this message's sender, for this user."""
    message = get_message_for_user(request.user, message_id)
    request.user.allow_images_from(message.from_address)
    return _back_to_message(request, message)


@login_required
@require_POST
def disallow_sender_images(request, message_id: int):
    message = get_message_for_user(request.user, message_id)
    request.user.disallow_images_from(message.from_address)
    return _back_to_message(request, message)


@login_required
def notification_list(request):
    notifications = request.user.notifications.all()[:100]
    return render(request, "web/notification_list.html", {"notifications": notifications})


@login_required
@require_POST
def notifications_read(request):
    do_mark_notifications_read(request.user)
    return redirect("web:notifications")


@login_required
@require_POST
def conversation_message_delete(request, conversation_id: int, message_id: int):
    conversation = get_conversation_for_user(
        request.user, conversation_id, MailboxGrant.Level.REPLY
    )
    if not conversation.messages.filter(pk=message_id).exists():
        raise Http404
    try:
        delete_from_mailbox(message_id, conversation.mailbox)
    except SyncError as exc:
        messages.error(request, f"Not deleted: {exc}")
    else:
        messages.success(request, "Moved to the mailbox's Trash.")
    return redirect("web:conversation", conversation.pk)


@login_required
def mailbox_folders(request, mailbox_id: int):
    """A mailbox manager picks the folders that sync, and corrects a role the server's
    flags got wrong (e.g. no folder marked as Spam)."""
    level = MailboxGrant.Level.MANAGE
    mailbox = get_object_or_404(mailboxes_for(request.user, level), pk=mailbox_id)
    folders = mailbox.folders.exclude(name__in=LOCAL_FOLDERS)
    if request.method == "POST":
        chosen = set(request.POST.getlist("sync"))
        names = [f.name for f in folders]
        if not chosen and folders.filter(is_synced=True).exists():
            # Sync off for the whole mailbox: what happens to its mail is chosen first.
            return redirect("web:retention_stop_sync", mailbox.pk)
        roles = {
            f.name: request.POST[f"role-{f.pk}"] for f in folders if f"role-{f.pk}" in request.POST
        }
        try:
            do_choose_folders(
                mailbox,
                sync=[n for n in names if n in chosen],
                stop=[n for n in names if n not in chosen],
                roles=roles,
            )
        except MailboxError as exc:
            messages.error(request, f"Not saved: {exc}")
        else:
            messages.success(request, "Saved: the worker picks the change up within seconds.")
        return redirect("web:mailbox_folders", mailbox.pk)
    context = {"mailbox": mailbox, "folders": folders, "roles": Folder.Role.choices}
    return render(request, "web/mailbox_folders.html", context)
