"""Bytes of a text part or header into text, when the declared charset is missing or lies.

Pure functions, no ORM. The common case costs one `bytes.decode`: ASCII, and UTF-8 or
any other charset that decodes cleanly as declared. A declared charset that decodes the
bytes wins; a heuristic overrides it only when it fails on them:

- it is unknown to Python, or the bytes do not decode with it (then its siblings are
  tried first: Shift_JIS or EUC-JP under an ISO-2022-JP label, GBK under Big5; Latin-1
  under a UTF-8 label);
- it is a CJK charset whose reading is nonsense that a sibling reads well (EUC-JP bytes
  read as Shift_JIS are half-width katakana and private-use signs);
- it is a Western one (us-ascii, ISO-8859-1/15, windows-1252) and the text decoded
  with it has words made of accented signs, which no Western language writes but
  Cyrillic, Greek, Hebrew or CJK 8-bit text read as Latin-1 always does ("Ïðèâåò" is
  "Привет" in windows-1251). "Übermäßige Größe" stays Latin-1.

Undeclared bytes are guessed: long text by charset-normalizer, short text (a name, a
file name) by scoring each strict reading (`_plausibility`), the message's own declared
charset first among equals. ISO-2022-JP is read with CP932's NEC and IBM extensions.

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
    said = codec_for(declared)
    codec = said or codec_for(hint)
    ascii_compatible = codec is None or not codec.startswith(_NOT_ASCII_COMPATIBLE)
    if ascii_compatible and data.isascii():
        return data.decode("ascii"), codec or "ascii"
    if codec is not None and codec.startswith("iso2022_jp"):
        if data.isascii() and (text := _iso2022_jp(data)) is not None:
            return text, codec
        # 8-bit bytes under an ISO-2022-JP label: Shift_JIS or EUC-JP sent as is.
        if found := _first_strict(data, _FAMILIES["iso2022_jp"]):
            return found
    multi_byte = codec is not None and codec.startswith(_MULTI_BYTE)
    if ascii_compatible and not multi_byte and codec != "utf-8":
        try:
            return data.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            pass
    if codec is not None and codec not in _WESTERN:
        try:
            text = data.decode(codec)
        except UnicodeDecodeError:
            # A sibling of the declared charset: GBK labelled Big5, EUC-JP labelled
            # Shift_JIS, or UTF-8 behind a CJK label.
            if found := _first_strict(data, _FAMILIES.get(codec, ())):
                return found
            if codec == "utf-8":
                valid = sum(len(seq) for seq in _UTF8_SEQUENCE.findall(data))
                if not said or valid * 2 < sum(b >= 0x80 for b in data):
                    # Mostly not UTF-8: 8-bit text under a UTF-8 label (Netscape 4.7 sent
                    # Latin-1 so) or hint, read as undeclared.
                    return _undeclared(data, hint)
                # UTF-8 with a few bytes of another charset pasted in (a signature, a
                # quoted reply): those bytes read as windows-1252, not as U+FFFD.
                return data.decode("utf-8", errors=_BYTES_AS_WESTERN), "utf-8"
            text = data.decode(codec, errors="replace")
            # A stray byte in otherwise good text stays a U+FFFD (up to 1 in 20); text
            # that is mostly undecodable is in some other charset: read as undeclared.
            # A hint that fails is no declaration: the bytes are guessed below.
            if said and text.count("\ufffd") * 20 <= len(text):
                return text, codec
            if multi_byte:  # skipped above: try it now
                try:
                    return data.decode("utf-8"), "utf-8"
                except UnicodeDecodeError:
                    pass
        else:
            if codec in _FREQUENT:
                return _likelier_sibling(data, text, codec)
            return text, codec
    return _undeclared(data, hint, codec if codec in _WESTERN else "cp1252")


def _undeclared(data: bytes, hint: str | None, western: str = "cp1252") -> tuple[str, str]:
    """8-bit bytes without a usable declaration: Western unless they cannot be."""
    text = data.decode(western, errors="replace")
    if not _looks_misread(text):
        return text, western
    return _guess(data, codec_for(hint)) or (text, western)


_UTF8_SEQUENCE = re.compile(
    rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}"
)
_BYTES_AS_WESTERN = "postroom-bytes-as-windows-1252"


def _bytes_as_western(error: UnicodeError) -> tuple[str, int]:
    if not isinstance(error, UnicodeDecodeError):
        raise error
    bad = error.object[error.start : error.end]
    return bad.decode("cp1252", errors="replace"), error.end


codecs.register_error(_BYTES_AS_WESTERN, _bytes_as_western)


# When the declared charset fails on the bytes, what its senders really wrote instead.
_FAMILIES: dict[str, tuple[str, ...]] = {
    "iso2022_jp": ("cp932", "euc_jp", "utf-8"),
    "cp932": ("euc_jp", "shift_jis_2004", "utf-8"),
    "euc_jp": ("cp932", "euc_jis_2004", "utf-8"),
    "gb18030": ("big5hkscs", "utf-8"),
    "big5hkscs": ("gb18030", "utf-8"),
    "cp949": ("utf-8",),
}
for _name in ("iso2022_jp_ext", "iso2022_jp_1", "iso2022_jp_2", "iso2022_jp_3", "iso2022_jp_2004"):
    _FAMILIES[_name] = _FAMILIES["iso2022_jp"]


def _likelier_sibling(data: bytes, text: str, codec: str) -> tuple[str, str]:
    """The declared CJK reading, unless it is nonsense that a sibling charset reads well.

    The CJK charsets share their byte ranges: EUC-JP bytes decode as Shift_JIS into
    half-width katakana and private-use signs, GBK bytes as Big5 into rare characters.
    Such a reading did not really decode: a sibling whose reading is far more plausible
    (`_plausibility`) is taken instead. Text that reads well as declared is never touched.
    """
    sample = text[: _SAMPLE // 8]
    score = _plausibility(sample, codec)
    if score >= 0.75:
        return text, codec
    best = (text, codec)
    for sibling in _FAMILIES.get(codec, ()):
        if sibling not in _FREQUENT:
            continue
        try:
            other = data.decode(sibling)
        except UnicodeDecodeError:
            continue
        other_score = _plausibility(other[: _SAMPLE // 8], sibling)
        if other_score >= score + 0.25:
            best, score = (other, sibling), other_score
    return best


def _first_strict(data: bytes, codecs_: tuple[str, ...]) -> tuple[str, str] | None:
    for candidate in codecs_:
        try:
            return data.decode(candidate), candidate
        except UnicodeDecodeError:
            continue
    return None


_ISO2022_ESCAPE = re.compile(rb"\x1b(\$@|\$B|\$\(D|\(B|\(J|\(I|\$\(O|\$\(Q|\$\(P)")


def _iso2022_jp(data: bytes) -> str | None:
    """ISO-2022-JP read as Japanese mailers write it: with CP932's extensions.

    Hand-written because no Python codec reads it: Outlook and Japanese mobile mailers
    put NEC's row 13 (circled digits ①, Roman numerals Ⅰ, ㈱) and the IBM extensions in
    ISO-2022-JP (Microsoft's CP50220), which iso2022_jp and iso2022_jp_ext refuse and
    iso2022_jp_2004 maps elsewhere. Each JIS X 0208 pair is turned into its Shift_JIS
    pair (the standard arithmetic) and CP932 decodes it; JIS X 0212 and 0213 segments
    go to Python's own codecs. None when the bytes are not ISO-2022-JP after all.
    """
    out: list[str] = []
    mode = b"(B"
    pieces = _ISO2022_ESCAPE.split(data)
    # split() with one group: text, escape, text, escape, ...
    for index, piece in enumerate(pieces):
        if index % 2:
            mode = piece
            continue
        if not piece:
            continue
        if mode in (b"(B", b"(J"):
            out.append(piece.decode("ascii", errors="replace"))
        elif mode == b"(I":  # JIS X 0201 katakana: Shift_JIS single bytes 0xA1-0xDF
            out.append(bytes(b | 0x80 for b in piece).decode("cp932", errors="replace"))
        elif mode in (b"$@", b"$B"):
            out.append(_jis_to_sjis(piece).decode("cp932", errors="replace"))
        else:  # JIS X 0212 / 0213: Python's codecs know them, escape included
            codec = "iso2022_jp_2" if mode == b"$(D" else "iso2022_jp_2004"
            out.append((b"\x1b" + mode + piece + b"\x1b(B").decode(codec, errors="replace"))
    text = "".join(out)
    if "\x1b" in text or text.count("\ufffd") * 20 > len(text):
        return None
    return text


def _jis_to_sjis(piece: bytes) -> bytes:
    """JIS X 0208 byte pairs (0x21-0x7E each) as Shift_JIS pairs; stray bytes kept."""
    out = bytearray()
    for index in range(0, len(piece) - 1, 2):
        j1, j2 = piece[index], piece[index + 1]
        if not (0x21 <= j1 <= 0x7E and 0x21 <= j2 <= 0x7E):
            out += b"?"
            continue
        s1 = (j1 + 1) // 2 + 0x70
        if s1 >= 0xA0:
            s1 += 0x40
        s2 = (j2 + 0x1F + (j2 >= 0x60)) if j1 % 2 else j2 + 0x7E
        out += bytes((s1, s2))
    return bytes(out)


# Letters and signs of the upper half of windows-1252: what 8-bit text of another
# script becomes when read as Western.
_HIGH = (
    "\u00a1-\u00ff\u0152\u0153\u0160\u0161\u0178\u017d\u017e\u0192\u02c6\u02dc"
    "\u2013-\u2022\u2026\u2030\u2039\u203a\u20ac\u2122"
)
_HIGH_RUN = re.compile(f"[{_HIGH}]{{3,}}")
_HIGH_CHAR = re.compile(f"[{_HIGH}]")


def _looks_misread(text: str) -> bool:
    """Whether text decoded as Western cannot be Western text: the declared charset fails.

    Western languages write an accented letter or two inside words of plain letters
    ("Übermäßige Größe": never three in a row), and the accented letters of one
    language; 8-bit Cyrillic, Greek, Hebrew or CJK read as Latin-1 is words made of
    accented signs of several ("Ïðèâåò", "ÕÅÈý"). A short Latin-1 text with many
    umlauts is therefore left alone, which a ratio of accented letters was not.
    """
    sample = _MARKUP.sub(" ", text[:_SAMPLE])
    if "\ufffd" in sample or any("\x80" <= c <= "\x9f" for c in sample):
        return True  # bytes windows-1252 does not define, or C1 controls nobody writes
    runs = _HIGH_RUN.findall(sample)
    in_runs = sum(len(run) for run in runs)
    if in_runs < 3 or in_runs * 2 < len(_HIGH_CHAR.findall(sample)):
        return False
    # Words of accented letters that one Western language writes ("Umlaute: äöü ÄÖÜ ß")
    # are still Western; Cyrillic or CJK read as Latin-1 mixes the letters of several.
    letters = {c for c in "".join(runs).lower() if c.isalpha()}
    return not any(letters <= language for language in _WESTERN_LETTERS)


# The accented letters of Western languages that windows-1252 writes, one set each.
_WESTERN_LETTERS = tuple(
    frozenset(letters)
    for letters in (
        "äöüßéàèëâ",  # German (with its French loanwords)
        "àâæçéèêëîïôœùûüÿ",  # French
        "áéíóúñü",  # Spanish
        "áâãàçéêíóôõúü",  # Portuguese
        "àèéìíîòóùú",  # Italian
        "àçéèíïòóúü",  # Catalan
        "áéèëïóöüàäêîôû",  # Dutch
        "åæøéüäöóô",  # Danish, Norwegian
        "åäöéüšž",  # Swedish, Finnish
        "áéíóúýþæöð",  # Icelandic
    )
)


def _guess(data: bytes, hint: str | None) -> tuple[str, str] | None:
    """The charset of undeclared (or falsely declared Western) 8-bit bytes.

    Long text goes to charset-normalizer, 8-bit charsets first (it prefers a CJK reading
    of short Cyrillic). Short text (a display name, a file name, a subject) is too short
    for it ("张三" in GBK came out as Big5 "桲ʊ"): each candidate's strict reading is
    scored by how plausible its letters are (`_plausibility`), the message's other
    declared charset (`hint`) first among equals.
    """
    if sum(b >= 0x80 for b in data[:4096]) >= 120:
        return _detect(data, _EIGHT_BIT) or _detect(data, _CJK)
    candidates = ([hint] if hint and hint not in _WESTERN and hint != "utf-8" else []) + [
        c for c in _CJK + _EIGHT_BIT if c != hint
    ]
    best: tuple[float, str, str] | None = None
    for candidate in candidates:
        try:
            text = data.decode(candidate)
        except (UnicodeDecodeError, LookupError):
            continue
        score = _plausibility(text, candidate)
        if candidate == hint:
            score += 0.15
        if best is None or score > best[0]:
            best = (score, text, candidate)
    if best is None or best[0] < 0.5:
        return _detect(data, _EIGHT_BIT) or _detect(data, _CJK)
    return best[1], best[2]


_SCRIPTS = (
    (0x0400, 0x04FF),  # Cyrillic
    (0x0370, 0x03FF),  # Greek
    (0x0590, 0x05FF),  # Hebrew
    (0x0600, 0x06FF),  # Arabic
    (0x0E00, 0x0E7F),  # Thai
    (0x0100, 0x017F),  # Latin Extended-A (Baltic, Central European)
)
# Where each CJK charset keeps its frequent characters: (encoding, lead-byte range).
_FREQUENT = {
    "gb18030": ("gb2312", 0xB0, 0xD7),  # GB2312 level 1: the 3,755 common hanzi
    "big5hkscs": ("big5", 0xA4, 0xC6),  # Big5's 5,401 frequent characters
    "cp932": ("shift_jis", 0x88, 0x98),  # JIS level 1 kanji
    "euc_jp": ("euc_jp", 0xB0, 0xCF),  # JIS level 1 kanji
    "cp949": ("euc_kr", 0xB0, 0xC8),  # KS X 1001's 2,350 hangul syllables
}


_SPACED_IDEOGRAPHS = re.compile(r"[\u4e00-\u9fff][ ,.!?]+ ?[\u4e00-\u9fff]")


def _plausibility(text: str, codec: str) -> float:
    """0..1: how much a reading's non-ASCII characters look like real text of one script."""
    chars = [c for c in text if ord(c) >= 0x80]
    if not chars:
        return 0.0
    if codec in _FREQUENT:
        narrow, low, high = _FREQUENT[codec]
        total = 0.0
        for char in chars:
            point = ord(char)
            if 0x3040 <= point <= 0x30FF:  # kana: Japanese, never a misreading of Chinese
                total += 1.0 if codec in ("cp932", "euc_jp") else 0.3
                continue
            if 0x3000 <= point <= 0x303F or 0xFF01 <= point <= 0xFF5E:
                total += 0.8  # ideographic punctuation, full-width forms
                continue
            if not (0x4E00 <= point <= 0x9FFF or 0xAC00 <= point <= 0xD7AF):
                continue  # half-width kana, symbols, IPA: what a misreading produces
            try:
                lead = char.encode(narrow)[0]
            except UnicodeEncodeError:
                total += 0.2
                continue
            total += 1.0 if low <= lead <= high else 0.6
        if codec != "cp949" and len(_SPACED_IDEOGRAPHS.findall(text)) > 1:
            total *= 0.6  # Chinese and Japanese put no spaces between words; Cyrillic does
        if codec in ("cp932", "euc_jp") and not any("\u3040" <= c <= "\u30ff" for c in chars):
            total *= 0.85  # Japanese without kana is rare; EUC-JP reads GB2312 bytes too
        return total / len(chars)
    scripts = {next((s for s in _SCRIPTS if s[0] <= ord(c) <= s[1]), None) for c in chars}
    letters = [c for c in chars if c.isalpha()]
    if len(scripts) != 1 or None in scripts or len(letters) < len(chars) * 0.8:
        return 0.0
    # Upper case only at the start of a word (or all of it): "Привет", "ПРИВЕТ".
    bad = sum(
        1
        for word in re.findall(r"\w+", text)
        if word[1:] != word[1:].lower() and word != word.upper()
    )
    return 0.9 - 0.3 * bad


def _detect(data: bytes, candidates: list[str]) -> tuple[str, str] | None:
    best = from_bytes(data[: _SAMPLE * 4], cp_isolation=candidates).best()
    if best is None:
        return None
    try:
        return data.decode(best.encoding, errors="replace"), best.encoding
    except LookupError:  # pragma: no cover - charset-normalizer names Python codecs
        return None
