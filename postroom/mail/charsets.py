"""Bytes of a text part or header into text, when the declared charset is missing or lies.

Pure functions, no ORM. The common case costs one `bytes.decode`: ASCII, and UTF-8 or
any other charset that decodes cleanly as declared. Detection (charset-normalizer) runs
only when the declared charset cannot be right:

- it is unknown to Python, or the bytes do not decode with it;
- it is a Western one (us-ascii, ISO-8859-1/15, windows-1252) and the text decoded
  with it is mostly accented capitals and lower-case letters in runs, which no Western
  language writes but Cyrillic, Greek or Hebrew 8-bit text read as Latin-1 always is
  ("Ïðèâåò" is "Привет" in windows-1251).

Bytes that decode as UTF-8 and are not ASCII are taken as UTF-8 whatever a single-byte
charset label says: by the design of UTF-8, text in an 8-bit charset is almost never
valid UTF-8 by accident, while UTF-8 labelled as Latin-1 or us-ascii is common.
"""

from __future__ import annotations

import codecs
import re
from functools import lru_cache

from charset_normalizer import from_bytes

# Labels mail uses that Python does not know.
_ALIASES = {
    "iso-8859-8-i": "iso8859_8",
    "iso-8859-6-i": "iso8859_6",
    "windows-874": "cp874",
    "x-sjis": "cp932",
    "x-euc-jp": "euc_jp",
    "x-mac-roman": "mac_roman",
    "x-mac-cyrillic": "mac_cyrillic",
    "x-mac-greek": "mac_greek",
    "x-mac-ce": "mac_latin2",
    "x-mac-turkish": "mac_turkish",
    "x-mac-icelandic": "mac_iceland",
    "x-cp1251": "cp1251",
    "x-cp1250": "cp1250",
    "unicode-1-1-utf-8": "utf_8",
    "x-unicode20utf8": "utf_8",
}

# What senders declare versus what their software really wrote: the narrower charset's
# superset, the way WHATWG's encoding standard reads them in browsers.
_SUPERSETS = {
    "ascii": "cp1252",
    "iso8859-1": "cp1252",
    "iso8859-9": "cp1254",
    "iso8859-11": "cp874",
    "tis-620": "cp874",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "shift_jis": "cp932",
    "euc_kr": "cp949",
    "big5": "big5hkscs",
    "iso2022_jp": "iso2022_jp_ext",
}

# Declared "Western": where the Cyrillic/Greek/Hebrew lie hides.
_WESTERN = frozenset({"cp1252", "iso8859-15"})

# Codecs in which ASCII bytes do not mean ASCII text.
_NOT_ASCII_COMPATIBLE = ("utf-16", "utf-32", "utf-7", "iso2022", "hz")

# Multi-byte charsets: valid UTF-8 is not a sign of a lie there (short CJK text can
# happen to be valid UTF-8), and a charset of this kind is never overridden by it.
_MULTI_BYTE = ("gb", "big5", "cp932", "cp949", "cp950", "euc", "shift_jis", "johab")

# Candidates when a Western label lies: the 8-bit charsets whose letters Latin-1 turns
# into accented gibberish. Western ones are left out on purpose: charset-normalizer
# prefers windows-1250 for plain French or German text, and Western text never gets here.
_EIGHT_BIT = ["cp1251", "koi8_r", "koi8_u", "cp1253", "cp1255", "cp1256", "cp1257", "cp874"]
_CJK = ["cp932", "euc_jp", "gb18030", "big5hkscs", "cp949"]

# Latin-1 letters (U+00C0 to U+00FF): a Cyrillic or Greek 8-bit byte of a letter lands here.
_HIGH_LATIN = re.compile(r"[\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u00ff]")
_ASCII_LETTER = re.compile(r"[A-Za-z]")
_MARKUP = re.compile(r"<(style|script)\b.*?</\1\s*>|<[^>]*>|&#?\w+;", re.I | re.S)
# How much of a long text detection reads: enough to decide, bounded in time.
_SAMPLE = 16_384


@lru_cache(maxsize=256)
def codec_for(label: str | None) -> str | None:
    """Python's codec name for a charset label, widened to its usual superset; None if unknown."""
    if not label:
        return None
    label = label.strip().strip("\"'").lower()
    candidates = [_ALIASES.get(label, label)]
    if label.startswith("x-"):
        candidates.append(label[2:])
    if label.startswith(("windows-", "cp-")):
        candidates.append("cp" + label.rpartition("-")[2])
    for candidate in candidates:
        try:
            name = codecs.lookup(candidate).name
        except (LookupError, ValueError):
            continue
        return _SUPERSETS.get(name, name)
    return None


def is_western(label: str | None) -> bool:
    """Whether a charset label names a Western one (us-ascii, Latin-1, windows-1252...)."""
    return codec_for(label) in _WESTERN


def decode(data: bytes, declared: str | None = None, *, hint: str | None = None) -> str:
    """`data` as text, read with the declared charset unless it is missing or a lie.

    `hint` stands in for a missing declaration, e.g. the body's charset for raw 8-bit
    header bytes. Never raises: bytes that fit no charset become U+FFFD.
    """
    return decode_as(data, declared, hint=hint)[0]


def decode_as(
    data: bytes, declared: str | None = None, *, hint: str | None = None
) -> tuple[str, str]:
    """Like `decode`, and the codec the text was really read with."""
    codec = codec_for(declared) or codec_for(hint)
    ascii_compatible = codec is None or not codec.startswith(_NOT_ASCII_COMPATIBLE)
    if ascii_compatible and data.isascii():
        return data.decode("ascii"), codec or "ascii"
    multi_byte = codec is not None and codec.startswith(_MULTI_BYTE)
    if ascii_compatible and not multi_byte and codec != "utf-8":
        try:
            return data.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            pass
    if codec is not None and codec not in _WESTERN:
        try:
            return data.decode(codec), codec
        except UnicodeDecodeError:
            text = data.decode(codec, errors="replace")
            # A stray byte in otherwise good text stays a U+FFFD (up to 1 in 20); text
            # that is mostly undecodable is in some other charset: read as undeclared.
            if text.count("\ufffd") * 20 <= len(text):
                return text, codec
            if multi_byte:  # skipped above: try it now
                try:
                    return data.decode("utf-8"), "utf-8"
                except UnicodeDecodeError:
                    pass
    western = codec if codec in _WESTERN else "cp1252"
    text = data.decode(western, errors="replace")
    if not _looks_misread(text):
        return text, western
    return _detect(data, _EIGHT_BIT) or _detect(data, _CJK) or (text, western)


def _looks_misread(text: str) -> bool:
    """Whether text decoded as Western shows the signs of 8-bit text of another script."""
    sample = _MARKUP.sub(" ", text[:_SAMPLE])
    if "\ufffd" in sample or any("\x80" <= c <= "\x9f" for c in sample):
        return True  # bytes windows-1252 does not define, or C1 controls nobody writes
    high = len(_HIGH_LATIN.findall(sample))
    # Western languages write a few accented letters among many plain ones (German
    # ~3%, French ~5%, Icelandic ~10%); 8-bit Cyrillic read as Latin-1 is nearly all.
    return high >= 4 and high * 10 > 3 * (high + len(_ASCII_LETTER.findall(sample)))


def _detect(data: bytes, candidates: list[str]) -> tuple[str, str] | None:
    best = from_bytes(data[: _SAMPLE * 4], cp_isolation=candidates).best()
    if best is None:
        return None
    try:
        return data.decode(best.encoding, errors="replace"), best.encoding
    except LookupError:  # pragma: no cover - charset-normalizer names Python codecs
        return None
