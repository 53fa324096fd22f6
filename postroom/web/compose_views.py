"""Writing email in the web UI: new mail, reply, reply all, forward, drafts, Undo, the
Outbox, and the signatures and templates pages.

Thin views: load and check access, validate the form, call one outbound action.
"""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from postroom.mail.models import Conversation, Message
from postroom.mail.workflow import do_stop_replying
from postroom.mailboxes.access import mailboxes_for
from postroom.mailboxes.models import Mailbox, MailboxGrant
from postroom.outbound import compose, placeholders, quota, richtext
from postroom.outbound.actions import (
    Composition,
    NewerEmailError,
    OutboundError,
    UndoError,
    apply_template,
    attachments_of,
    can_manage,
    do_delete_template,
    do_discard_draft,
    do_save_draft,
    do_save_signature,
    do_save_template,
    do_send_email,
    do_undo_send,
    draft_for,
    find_draft,
    new_idempotency_key,
    sender_name,
    starting_html,
    store_upload,
)
from postroom.outbound.failed import (
    FixError,
    can_edit,
    can_fix,
    do_edit_failed_as_draft,
    do_retry_send,
)
from postroom.outbound.models import Draft, MessageTemplate, OutboxMessage, Signature

from .access import get_conversation_for_user, get_mailbox_for_user

Kind = OutboxMessage.Kind
PAGE_SIZE = 50


class ComposeForm(forms.Form):
    to = forms.CharField(label="To", max_length=10000)
    cc = forms.CharField(label="Cc", max_length=10000, required=False)
    subject = forms.CharField(label="Subject", max_length=998, required=False)
    # The editor's HTML, cleaned on the server; the text part is derived from it.
    body_html = forms.CharField(required=False, strip=False)
    # Plain text instead of HTML (a client without the editor).
    body = forms.CharField(required=False, strip=False)
    # Ties a submission to one rendering of the form, so a double-click sends once.
    token = forms.CharField(max_length=64, widget=forms.HiddenInput)
    # Tracking (opens, clicks) is on unless the sender ticks this for the email.
    untracked = forms.BooleanField(required=False)

    def _addresses(self, name: str) -> list[str]:
        try:
            return compose.parse_addresses(self.cleaned_data[name])
        except compose.AddressError as exc:
            raise forms.ValidationError(str(exc)) from exc

    def clean_to(self) -> list[str]:
        return self._addresses("to")

    def clean_cc(self) -> list[str]:
        return self._addresses("cc")


def _parent(conversation: Conversation, message_id: str | None) -> Message:
    """The message answered: the one asked for, else the latest not sent by the mailbox."""
    in_thread = conversation.messages.order_by("-date", "-created_at")
    if message_id:
        if not message_id.isdigit():
            raise Http404("no such message in this conversation")
        return get_object_or_404(in_thread, pk=int(message_id))
    theirs = in_thread.exclude(from_address__iexact=conversation.mailbox.address).first()
    return theirs or get_object_or_404(in_thread[:1])


def _own_draft(request: HttpRequest, value: str | None, mailbox: Mailbox, kind: str, conv):
    """The draft named in the request, if it is the user's and belongs to this form."""
    if not value:
        return None
    if not value.isdigit():
        raise Http404("no such draft")
    return get_object_or_404(
        Draft, pk=int(value), author=request.user, mailbox=mailbox, kind=kind, conversation=conv
    )


def _html_of(post) -> str:
    if post.get("body_html", "").strip():
        return post["body_html"]
    return richtext.text_to_html(post.get("body", "")) if post.get("body") else ""


def _uploads(request: HttpRequest) -> list[dict]:
    """The files of this request, stored (AttachmentBlob, by SHA-256); refs for the draft."""
    from django.conf import settings

    limit = settings.POSTROOM["MAX_ATTACHMENTS_SIZE"]
    refs = []
    for upload in request.FILES.getlist("files"):
        if upload.size > limit:
            raise OutboundError(
                f"{upload.name} is {upload.size / 1024 / 1024:.1f} MB; attachments may add "
                f"up to {limit / 1024 / 1024:g} MB at most"
            )
        refs.append(store_upload(upload.name, upload.content_type, upload.read()))
    return refs


def _compose(
    request: HttpRequest,
    mailbox: Mailbox,
    kind: str,
    *,
    done: str,
    parent: Message | None = None,
    conversation: Conversation | None = None,
) -> HttpResponse:
    offered = attachments_of(parent) if kind == Kind.FORWARD else []
    if request.method == "POST":
        return _post(request, mailbox, kind, done, parent, conversation, offered)
    draft = _own_draft(request, request.GET.get("draft"), mailbox, kind, conversation)
    draft = draft or find_draft(request.user, mailbox, kind, conversation)
    if draft is not None:
        initial = {"to": draft.to, "cc": draft.cc, "subject": draft.subject}
        html, attachments, kept = draft.html, draft.attachments, draft.attachments
    else:
        start = draft_for(kind, mailbox, request.user, parent)
        initial = {"to": ", ".join(start.to), "cc": ", ".join(start.cc), "subject": start.subject}
        html = starting_html(kind, mailbox, request.user, parent)
        attachments, kept = offered, offered
    form = ComposeForm(initial={**initial, "body_html": html, "token": new_idempotency_key()})
    return _page(request, form, mailbox, kind, done, parent, conversation, draft, attachments, kept)


def _post(request, mailbox, kind, done, parent, conversation, offered) -> HttpResponse:
    draft = _own_draft(request, request.POST.get("draft"), mailbox, kind, conversation)
    seen = None
    action = request.POST.get("action", "send")
    error = ""
    try:
        draft = do_save_draft(
            draft,
            acting_user=request.user,
            mailbox=mailbox,
            kind=kind,
            conversation=conversation,
            parent=parent,
            to=request.POST.get("to", ""),
            cc=request.POST.get("cc", ""),
            subject=request.POST.get("subject", ""),
            html_body=_html_of(request.POST),
            keep=request.POST.getlist("attachment"),
            offered=offered,
            uploads=_uploads(request),
        )
    except OutboundError as exc:
        error = str(exc)
    if action == "save" and request.headers.get("X-Requested-With") != "fetch":
        # The Save draft button without the page's script: back to the form.
        if error:
            messages.error(request, error)
        if draft is None:
            return redirect(request.get_full_path())
        messages.success(request, "The draft is saved.")
        return redirect(draft_url(draft))
    if action == "save":
        if error:
            return JsonResponse({"error": error, "draft": draft and draft.pk}, status=400)
        return JsonResponse(
            {
                "draft": draft.pk,
                "saved_at": timezone.localtime(draft.updated_at).isoformat(),
                "attachments": draft.attachments,
            }
        )
    if action == "discard" and draft is not None:
        do_discard_draft(draft, acting_user=request.user)
        messages.success(request, "The draft was discarded.")
        return redirect(done)
    form = ComposeForm(request.POST)
    if action == "template" and draft is not None and not error:
        template = _template_for(request, mailbox)
        if template is not None:
            draft.html, draft.subject = apply_template(draft.html, draft.subject, template)
            draft.save(update_fields=["html", "subject", "updated_at"])
        data = {**request.POST.dict(), "body_html": draft.html, "subject": draft.subject}
        form = ComposeForm(data)
    elif form.is_valid() and not error:
        data = form.cleaned_data
        email = Composition(
            to=data["to"],
            cc=data["cc"],
            subject=data["subject"],
            html=draft.html,
            attachments=draft.attachments,
        )
        try:
            outbox = do_send_email(
                mailbox,
                email,
                acting_user=request.user,
                kind=kind,
                parent=parent,
                conversation=conversation,
                idempotency_key=data["token"],
                draft=draft,
                seen_message_id=_seen(request, conversation),
                track=not data["untracked"],
            )
        except NewerEmailError as exc:
            form.add_error(None, str(exc))
            seen = exc.newer.pk  # read it: the next Send is the confirmation
        except OutboundError as exc:
            form.add_error(None, str(exc))
        else:
            if conversation is not None:
                do_stop_replying(conversation, request.user)
            if outbox.can_undo():
                messages.success(request, "Sending… (Undo below, for a few seconds)")
            else:
                messages.success(request, "Your email is in the Outbox and goes out in a moment.")
            return redirect(done)
    if error:
        form.is_valid()
        form.add_error(None, error)
    if draft is not None:
        # Shown again as stored: cleaned, not as posted.
        form.data = form.data.copy()
        form.data["body_html"] = draft.html
    attachments = draft.attachments if draft is not None else offered
    kept = attachments
    return _page(
        request, form, mailbox, kind, done, parent, conversation, draft, attachments, kept, seen
    )


def _template_for(request: HttpRequest, mailbox: Mailbox) -> MessageTemplate | None:
    value = request.POST.get("template", "")
    if not value.isdigit():
        return None
    return MessageTemplate.objects.filter(pk=int(value), mailbox=mailbox).first()


def _seen(request: HttpRequest, conversation: Conversation | None) -> int | None:
    """The newest email of the conversation the writer had seen (collision detection):
    as the form carries it, else the newest there is now."""
    value = request.POST.get("seen", "")
    if value.isdigit():
        return int(value)
    if conversation is None:
        return None
    return conversation.messages.order_by("-pk").values_list("pk", flat=True).first()


def _page(
    request, form, mailbox, kind, done, parent, conversation, draft, attachments, kept, seen=None
):
    html = form["body_html"].value() or ""
    values = placeholders.values_for(mailbox, conversation, user=request.user)
    context = {
        "form": form,
        "mailbox": mailbox,
        "kind": Kind(kind),
        "parent": parent,
        "conversation": conversation,
        "sender": f"{sender_name(request.user, mailbox)} <{mailbox.address}>",
        "cancel": done,
        "draft": draft,
        "html": html,
        "attachments": attachments,
        "kept": {a["sha256"] for a in kept},
        "templates": MessageTemplate.objects.filter(mailbox=mailbox),
        "placeholders": [(f"{{{name}}}", values[name]) for name in placeholders.NAMES],
        "seen": seen or _seen(request, conversation),
        # A reply has its recipients: the cursor waits in the editor, above the quote.
        "write_first": kind in (Kind.REPLY, Kind.REPLY_ALL),
        # Said before the email is written, not only when Send is refused.
        "quota_refusal": quota.refusal(),
    }
    return render(request, "web/compose.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def compose_new(request, mailbox_id: int):
    mailbox = get_mailbox_for_user(request.user, mailbox_id, MailboxGrant.Level.REPLY)
    return _compose(request, mailbox, Kind.NEW, done=reverse("web:outbox", args=[mailbox.pk]))


@login_required
@require_http_methods(["GET", "POST"])
def compose_reply(request, conversation_id: int, mode: str):
    """Reply, reply all or forward (`mode`) to a message of the conversation."""
    conversation = get_conversation_for_user(
        request.user, conversation_id, MailboxGrant.Level.REPLY
    )
    parent = _parent(conversation, request.GET.get("message"))
    done = reverse("web:conversation", args=[conversation.pk])
    return _compose(
        request, conversation.mailbox, mode, done=done, parent=parent, conversation=conversation
    )


_MODE_URLS = {Kind.REPLY: "web:reply", Kind.REPLY_ALL: "web:reply_all", Kind.FORWARD: "web:forward"}


def draft_url(draft: Draft) -> str:
    """Where the draft is edited: its compose form, with the draft in it."""
    if draft.kind in _MODE_URLS and draft.conversation_id:
        url = reverse(_MODE_URLS[draft.kind], args=[draft.conversation_id])
        parent = f"&message={draft.parent_id}" if draft.parent_id else ""
        return f"{url}?draft={draft.pk}{parent}"
    return f"{reverse('web:compose', args=[draft.mailbox_id])}?draft={draft.pk}"


@login_required
@require_POST
def undo_send(request, outbox_id: int):
    """Take back an email still in its undo window: back to the form, as a draft."""
    outbox = get_object_or_404(OutboxMessage.objects.defer("raw"), pk=outbox_id)
    get_mailbox_for_user(request.user, outbox.mailbox_id, MailboxGrant.Level.REPLY)
    try:
        draft = do_undo_send(outbox.pk, acting_user=request.user)
    except UndoError as exc:
        messages.error(request, str(exc).capitalize() + ".")
        back = outbox.conversation_id and reverse("web:conversation", args=[outbox.conversation_id])
        return redirect(back or reverse("web:outbox", args=[outbox.mailbox_id]))
    messages.success(request, "Not sent: your email is a draft again.")
    return redirect(draft_url(draft))


def _failed_email(request, outbox_id: int) -> OutboxMessage:
    """A failed email the user may see (its mailbox readable), else 404; whether they
    may put it right is the action's to check."""
    outbox = get_object_or_404(OutboxMessage.objects.defer("raw"), pk=outbox_id)
    get_mailbox_for_user(request.user, outbox.mailbox_id, MailboxGrant.Level.READ)
    return outbox


def _back(outbox: OutboxMessage) -> str:
    if outbox.conversation_id:
        return reverse("web:conversation", args=[outbox.conversation_id])
    return reverse("web:outbox", args=[outbox.mailbox_id])


@login_required
@require_POST
def retry_send(request, outbox_id: int):
    """Send a failed email again (its author or a manager of its mailbox)."""
    outbox = _failed_email(request, outbox_id)
    try:
        do_retry_send(outbox.pk, acting_user=request.user)
    except FixError as exc:
        if not can_fix(request.user, outbox):
            raise PermissionDenied(str(exc)) from exc
        messages.error(request, str(exc).capitalize() + ".")
    else:
        messages.success(request, "Sending it again: it is back in the Outbox.")
    # From the Outbox page, back to it; from the conversation, back there.
    if request.POST.get("back") == "outbox":
        return redirect("web:outbox", outbox.mailbox_id)
    return redirect(_back(outbox))


@login_required
@require_POST
def failed_to_draft(request, outbox_id: int):
    """Take a failed email back as a draft to edit (its author or a manager)."""
    outbox = _failed_email(request, outbox_id)
    try:
        draft = do_edit_failed_as_draft(outbox.pk, acting_user=request.user)
    except FixError as exc:
        if not can_fix(request.user, outbox):
            raise PermissionDenied(str(exc)) from exc
        messages.error(request, str(exc).capitalize() + ".")
        return redirect(_back(outbox))
    messages.success(request, "Not sent: the email is a draft again. Change it and send.")
    return redirect(draft_url(draft))


@login_required
@require_POST
def discard_draft(request, draft_id: int):
    draft = get_object_or_404(Draft, pk=draft_id, author=request.user)
    do_discard_draft(draft, acting_user=request.user)
    messages.success(request, "The draft was discarded.")
    return redirect(reverse("web:outbox", args=[draft.mailbox_id]))


@login_required
@require_GET
def outbox(request, mailbox_id: int):
    """The mailbox's sent and waiting email, with each one's state and the server's words."""
    mailbox = get_mailbox_for_user(request.user, mailbox_id, MailboxGrant.Level.READ)
    emails = OutboxMessage.objects.filter(mailbox=mailbox).select_related("author").defer("raw")
    page = Paginator(emails, PAGE_SIZE).get_page(request.GET.get("page"))
    can_send = mailboxes_for(request.user, MailboxGrant.Level.REPLY).filter(pk=mailbox.pk)
    now = timezone.now()
    undoable = {e.pk for e in page if e.author_id == request.user.pk and e.can_undo(now)}
    failed = [e for e in page if e.status == OutboxMessage.Status.FAILED]
    fixable = {e.pk for e in failed if can_fix(request.user, e)}
    editable = {e.pk for e in failed if e.pk in fixable and can_edit(e)}
    mine = Draft.objects.filter(mailbox=mailbox, author=request.user)
    drafts = [(draft, draft_url(draft)) for draft in mine]
    return render(
        request,
        "web/compose_outbox.html",
        {
            "mailbox": mailbox,
            "page": page,
            "can_send": can_send.exists(),
            "can_manage": can_manage(request.user, mailbox),
            "undoable": undoable,
            "fixable": fixable,
            "editable": editable,
            "drafts": drafts,
            "quota_refusal": quota.refusal(),
        },
    )


# ----------------------------------------------------------------- signatures, templates


class SignatureForm(forms.Form):
    html = forms.CharField(required=False, strip=False)


class TemplateForm(forms.Form):
    name = forms.CharField(max_length=200)
    subject = forms.CharField(max_length=998, required=False)
    html = forms.CharField(required=False, strip=False)


def _managed_mailbox(request: HttpRequest, mailbox_id: int) -> Mailbox:
    return get_mailbox_for_user(request.user, mailbox_id, MailboxGrant.Level.MANAGE)


@login_required
@require_http_methods(["GET", "POST"])
def signatures(request):
    """The user's own signature (editable here) and the mailboxes whose signature and
    templates the user manages."""
    own = Signature.objects.filter(user=request.user).first()
    form = SignatureForm(request.POST or None, initial={"html": own.html if own else ""})
    if request.method == "POST" and form.is_valid():
        try:
            do_save_signature(html_body=form.cleaned_data["html"], acting_user=request.user)
        except OutboundError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, "Your signature is saved.")
            return redirect("web:signatures")
    managed = mailboxes_for(request.user, MailboxGrant.Level.MANAGE).order_by("name")
    return render(
        request,
        "web/outbound_signatures.html",
        {"form": form, "managed": managed, "placeholders": placeholders.NAMES},
    )


@login_required
@require_http_methods(["GET", "POST"])
def mailbox_signature(request, mailbox_id: int):
    mailbox = _managed_mailbox(request, mailbox_id)
    current = Signature.objects.filter(mailbox=mailbox).first()
    form = SignatureForm(request.POST or None, initial={"html": current.html if current else ""})
    if request.method == "POST" and form.is_valid():
        try:
            do_save_signature(
                html_body=form.cleaned_data["html"], acting_user=request.user, mailbox=mailbox
            )
        except OutboundError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"The signature of {mailbox.address} is saved.")
            return redirect("web:signatures")
    return render(
        request,
        "web/outbound_signature_edit.html",
        {"form": form, "mailbox": mailbox, "placeholders": placeholders.NAMES},
    )


@login_required
@require_GET
def template_list(request, mailbox_id: int):
    mailbox = _managed_mailbox(request, mailbox_id)
    return render(
        request,
        "web/outbound_templates.html",
        {"mailbox": mailbox, "templates": MessageTemplate.objects.filter(mailbox=mailbox)},
    )


@login_required
@require_http_methods(["GET", "POST"])
def template_edit(request, mailbox_id: int, template_id: int | None = None):
    mailbox = _managed_mailbox(request, mailbox_id)
    template = None
    if template_id is not None:
        template = get_object_or_404(MessageTemplate, pk=template_id, mailbox=mailbox)
    initial = {}
    if template is not None:
        initial = {"name": template.name, "subject": template.subject, "html": template.html}
    form = TemplateForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            do_save_template(
                template,
                mailbox=mailbox,
                name=data["name"],
                subject=data["subject"],
                html_body=data["html"],
                acting_user=request.user,
            )
        except OutboundError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"The template “{data['name'].strip()}” is saved.")
            return redirect("web:templates", mailbox.pk)
    return render(
        request,
        "web/outbound_template_edit.html",
        {
            "form": form,
            "mailbox": mailbox,
            "template": template,
            "placeholders": placeholders.NAMES,
        },
    )


@login_required
@require_POST
def template_delete(request, mailbox_id: int, template_id: int):
    mailbox = _managed_mailbox(request, mailbox_id)
    template = get_object_or_404(MessageTemplate, pk=template_id, mailbox=mailbox)
    try:
        do_delete_template(template, acting_user=request.user)
    except OutboundError as exc:
        raise PermissionDenied(str(exc)) from exc
    messages.success(request, f"The template “{template.name}” is deleted.")
    return redirect("web:templates", mailbox.pk)
