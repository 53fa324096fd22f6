"""postroom.mail.charsets: decoding text whose declared charset is missing or a lie."""

import pytest

from postroom.mail.charsets import codec_for, decode, decode_as

CYRILLIC = "Здравствуйте! Пришлите, пожалуйста, счёт на оплату за март."


@pytest.mark.parametrize(
    ("label", "codec"),
    [
        ("us-ascii", "cp1252"),
        ("ISO-8859-1", "cp1252"),
        ("latin1", "cp1252"),
        ("gb2312", "gb18030"),
        ("shift_jis", "cp932"),
        ("ks_c_5601-1987", "cp949"),
        ("windows-874", "cp874"),
        ("x-mac-cyrillic", "mac-cyrillic"),
        ('"utf-8"', "utf-8"),
        ("x-no-such", None),
        ("", None),
    ],
)
def test_it_maps_labels_to_the_codecs_senders_really_use(label, codec):
    assert codec_for(label) == codec


def test_ascii_is_read_without_detection():
    assert decode_as(b"plain", "utf-8") == ("plain", "utf-8")


def test_it_detects_cyrillic_hidden_behind_a_latin1_label():
    for codec in ("cp1251", "koi8_r"):
        text, used = decode_as(CYRILLIC.encode(codec), "iso-8859-1")
        assert (text, used) == (CYRILLIC, codec)


def test_it_prefers_utf8_over_a_single_byte_label():
    assert decode("Grüße".encode(), "windows-1251") == "Grüße"


def test_it_keeps_a_stray_undecodable_byte_as_a_replacement_character():
    data = CYRILLIC.encode("cp1251") + b"\x98"  # 0x98 is undefined in windows-1251
    assert decode(data, "windows-1251") == CYRILLIC + "\ufffd"


def test_it_never_raises():
    assert decode(bytes(range(256)), "utf-8")
    assert decode(b"\xff\xfe\x00", "no-such-charset")
    assert decode(b"\x1b$B", "iso-2022-jp") is not None


def test_it_uses_the_hint_when_nothing_is_declared():
    assert decode("Счёт".encode("koi8-r"), None, hint="koi8-r") == "Счёт"


# -- issue 20: declared charsets win; the Japanese and Chinese families -------------------


def test_latin1_umlauts_are_not_read_as_greek():
    # Short, and a third of its letters accented: a ratio said "misread" and detection
    # answered Greek (windows-1253) or Baltic.
    texts = ("Übermäßige Größe", "Grüße, Jürgen", "Öl für Bär", "Ça a été déjà vu")
    # Words of nothing but accented letters, all of one language: still that language
    # (they were read as Cyrillic: "Umlaut-Test: дььДЦЬЯ").
    texts += ("Umlaut-Test: äöüÄÖÜß", "Ærø Ø", "Où êtes-vous à côté")
    for text in texts:
        assert decode_as(text.encode("latin-1"), "iso-8859-1") == (text, "cp1252")


def test_a_declared_charset_that_decodes_cleanly_is_kept():
    text = "Żółć gęślą jaźń"
    assert decode_as(text.encode("iso-8859-2"), "iso-8859-2") == (text, "iso8859-2")
    assert decode_as("Καλημέρα".encode("iso-8859-7"), "iso-8859-7")[0] == "Καλημέρα"


def test_iso_2022_jp_with_nec_circled_digits_is_read_with_cp932_extensions():
    # ① and ㈱ are NEC row 13 (0x2D21, 0x2D6A): Python's iso2022_jp codecs refuse them.
    data = b'\x1b$B-!-"3t<02q<R-j\x1b(B No.1'
    assert decode(data, "iso-2022-jp") == "①②株式会社㈱ No.1"


def test_iso_2022_jp_with_ibm_extensions_is_read():
    ibm = "纊鍈"  # IBM extension kanji, in CP932 at 0xED40-: NEC-selected rows 89-92
    jis = bytearray(b"\x1b$B")
    for char in ibm:
        s1, s2 = char.encode("cp932")
        # Shift_JIS back to JIS X 0208 rows, as a mailer's CP50220 encoder writes them.
        j1 = (s1 - (0x70 if s1 < 0xA0 else 0xB0)) * 2 - (1 if s2 < 0x9F else 0)
        j2 = s2 - (0x1F + (s2 > 0x7F) if s2 < 0x9F else 0x7E)
        jis += bytes((j1, j2))
    assert decode(bytes(jis) + b"\x1b(B", "iso-2022-jp") == ibm


def test_shift_jis_bytes_labelled_iso_2022_jp_are_read_as_shift_jis():
    text = "お世話になっております。①の件です。"
    assert decode_as(text.encode("cp932"), "iso-2022-jp") == (text, "cp932")


def test_euc_jp_bytes_labelled_shift_jis_are_read_as_euc_jp():
    text = "お見積もりをお送りします。"
    assert decode(text.encode("euc_jp"), "shift_jis") == text


def test_undeclared_gbk_text_is_read_as_gbk():
    text = "您好，请把三月份的发票寄给我们。谢谢！"
    assert decode_as(text.encode("gbk"), None) == (text, "gb18030")


def test_short_undeclared_gbk_is_not_read_as_big5_or_cyrillic():
    for text in ("张三", "报价单2024.pdf", "合同"):
        assert decode(text.encode("gbk"), None) == text


def test_short_undeclared_shift_jis_and_cyrillic_are_read_as_such():
    assert decode("見積書.pdf".encode("cp932"), None) == "見積書.pdf"
    assert decode("Привет".encode("cp1251"), None) == "Привет"


def test_short_big5_is_read_as_big5_with_the_message_charset_as_hint():
    assert decode("報價單.pdf".encode("big5"), None, hint="big5") == "報價單.pdf"


def test_gbk_labelled_big5_is_read_as_gbk():
    text = "请查收附件中的合同。"
    assert decode(text.encode("gbk"), "big5") == text


def test_latin1_text_labelled_utf8_is_read_as_latin1_not_as_replacement_characters():
    # Netscape 4.7 sent its Latin-1 so (stalwart's corpus, legacy/033.eml).
    text = "Die Hasen klagten einst über ihre mißliche Lage."
    assert decode_as(text.encode("latin-1"), "utf-8") == (text, "cp1252")


def test_utf8_with_a_pasted_latin1_signature_keeps_both():
    data = "Grüße — ".encode() + "Jürgen Müller".encode("latin-1")
    assert decode_as(data, "utf-8") == ("Grüße — Jürgen Müller", "utf-8")
