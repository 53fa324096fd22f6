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
