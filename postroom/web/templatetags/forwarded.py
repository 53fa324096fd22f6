"""The forwarded emails of a message on the conversation page (postroom.mail.forwarded):
each in a collapsible block of its own, the forwarding email's text without the copy of
them that the parser appended, and its attachment list without them."""

from dataclasses import replace

from django import template

from postroom.mail.bounds import DISPLAY_TEXT_CHARS, cut
from postroom.mail.forwarded import EMAIL_TYPES, ForwardedEmail, forwarded_emails
from postroom.mail.forwarded import without_forwarded_text as _without
from postroom.mail.quotes import split_reply
from postroom.mail.sanitize import text_to_html

register = template.Library()


def _files(message) -> list:
    files = getattr(message, "files", None)
    if files is None:  # not prefetched by the view
        files = list(message.attachments.filter(is_inline=False))
    return files


@register.simple_tag
def forwarded_of(message) -> list[ForwardedEmail]:
    """The message's forwarded emails, read from its (prefetched) attachment rows."""
    return forwarded_emails(_files(message))


@register.filter
def not_forwarded(files) -> list:
    """The attachment rows that are not forwarded emails (those have their own block)."""
    return [file for file in files if file.content_type not in EMAIL_TYPES]


@register.simple_tag
def without_forwarded_text(shown, forwarded: list[ForwardedEmail]):
    """`shown` (web.views.ShownMessage) with its text body cut before the forwarded
    emails' copies; the same steps as the view (bounded, reply and quote split, escaped
    and linked) on the shorter text. An HTML body has no copies: returned as it is."""
    message = shown.message
    if not forwarded or message.html_body:
        return shown
    text = _without(message.text_body, forwarded)
    if text == message.text_body:
        return shown
    reply, quoted = split_reply(cut(text, DISPLAY_TEXT_CHARS)[0])
    return replace(
        shown,
        text_html=text_to_html(reply) if reply else "",
        quoted_html=text_to_html(quoted) if quoted else "",
    )
