"""A corpus of hostile emails: each is small enough to pass every size limit, and each
once made one step of the path of an email (parse, sanitise, index, thread, capture,
render) run for minutes.

Every email is built from its kind's name and a scale, so a test can run the whole
corpus at the scale the issue names, and a unit test at a smaller one.
"""

import base64
from collections.abc import Callable
from email.message import EmailMessage
from email.utils import make_msgid

# Bodies of one long line travel base64-encoded, as a mailer sends them: SMTP refuses
# lines over 998 bytes (the ingress answers 500 "Line too long").
_B64 = "base64"


def _wire(msg: EmailMessage) -> bytes:
    """As it travels: CRLF line ends (bare LFs make a 1 MB body one SMTP line)."""
    return msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))


def _email(subject: str, sender: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = "sales@acme.test"
    msg["Subject"] = subject
    msg["Message-ID"] = make_msgid(domain="hostile.test")
    msg["Date"] = "Mon, 07 Dec 2026 09:00:00 +0000"
    return msg


def deep_nesting(scale: int = 100_000, sender: str = "deep@hostile.test") -> bytes:
    """An HTML body of `scale` nested elements (1.1 MB at 100,000): html5ever's tree
    builder walks the open-element stack at each tag, quadratic in the depth."""
    msg = _email("Deeply nested", sender)
    msg.set_content("<div>" * scale + "deep inside" + "</div>" * scale, subtype="html", cte=_B64)
    return _wire(msg)


def unclosed_nesting(scale: int = 100_000, sender: str = "open@hostile.test") -> bytes:
    """Nested inline elements that are never closed: the adoption agency's worst case."""
    msg = _email("Never closed", sender)
    msg.set_content("<b><i><font>" * (scale // 3) + "text", subtype="html", cte=_B64)
    return _wire(msg)


def many_attributes(scale: int = 100_000, sender: str = "attrs@hostile.test") -> bytes:
    """One element with `scale` attributes."""
    msg = _email("Huge attribute list", sender)
    attributes = " ".join(f'a{i}="{i}"' for i in range(scale))
    msg.set_content(f"<p {attributes} style='color:red'>hello</p>", subtype="html", cte=_B64)
    return _wire(msg)


def many_elements(scale: int = 100_000, sender: str = "flat@hostile.test") -> bytes:
    """`scale` sibling table cells: flat, but many nodes."""
    msg = _email("A huge table", sender)
    msg.set_content(
        "<table><tr>" + "<td>x</td>" * scale + "</tr></table>", subtype="html", cte=_B64
    )
    return _wire(msg)


def many_parts(scale: int = 10_000, sender: str = "parts@hostile.test") -> bytes:
    """A multipart of `scale` tiny attachments next to an HTML body that names a cid."""
    msg = _email("Ten thousand parts", sender)
    msg.set_content("see the parts")
    msg.add_alternative(
        "<p>" + "<img src='cid:p1'>" * 10 + "x" * 200_000 + "</p>", subtype="html", cte=_B64
    )
    for i in range(scale):
        msg.add_attachment(b"%d" % i, maintype="application", subtype="octet-stream",
                           filename=f"part{i}.bin", cid=f"<p{i}>")  # fmt: skip
    return _wire(msg)


def long_header(scale: int = 1_000_000, sender: str = "header@hostile.test") -> bytes:
    """A Subject and a References header of `scale` bytes each, on one line."""
    refs = " ".join(f"<r{i}@hostile.test>" for i in range(scale // 20))
    subject = ("=?utf-8?q?" + "=C3=A4" * 10 + "?= ") * (scale // 80)
    head = (
        f"From: {sender}\r\nTo: sales@acme.test\r\nSubject: {subject[:scale]}\r\n"
        f"References: {refs[:scale]}\r\nMessage-ID: {make_msgid(domain='hostile.test')}\r\n"
        "Date: Mon, 07 Dec 2026 09:00:00 +0000\r\n"
    )
    return (head + "\r\nbody\r\n").encode()


def huge_text(scale: int = 30_000_000, sender: str = "text@hostile.test") -> bytes:
    """A plain-text body of `scale` bytes (30 MB: under the 50 MB limit), full of URLs,
    which the display turns into links."""
    line = b"Line of text with a link http://example.test/path and more words here.\r\n"
    body = line * (scale // len(line))
    head = (
        f"From: {sender}\r\nTo: sales@acme.test\r\nSubject: Thirty megabytes\r\n"
        f"Message-ID: {make_msgid(domain='hostile.test')}\r\n"
        "Date: Mon, 07 Dec 2026 09:00:00 +0000\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\n"
    ).encode()
    return head + body


def base64_bomb(scale: int = 20_000_000, sender: str = "bomb@hostile.test") -> bytes:
    """A base64 text/html body of `scale` decoded bytes of one repeated tag: it compresses
    to nothing on the wire of a gzip-ing MTA and expands into a huge node count."""
    html = b"<span>" * (scale // 6)
    encoded = base64.encodebytes(html)
    head = (
        f"From: {sender}\r\nTo: sales@acme.test\r\nSubject: Base64 bomb\r\n"
        f"Message-ID: {make_msgid(domain='hostile.test')}\r\n"
        "Date: Mon, 07 Dec 2026 09:00:00 +0000\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    ).encode()
    return head + encoded.replace(b"\n", b"\r\n")


# Each kind with the scale the hardening issue names.
CORPUS: dict[str, Callable[..., bytes]] = {
    "deep_nesting": deep_nesting,
    "unclosed_nesting": unclosed_nesting,
    "many_attributes": many_attributes,
    "many_elements": many_elements,
    "many_parts": many_parts,
    "long_header": long_header,
    "huge_text": huge_text,
    "base64_bomb": base64_bomb,
}
