"""Building small TNEF (winmail.dat) blobs for tests, as Outlook writes them.

TNEF is a sequence of attributes: level (1 = message, 2 = attachment), a 32-bit id
(type in the high word, name in the low), a length, the data and a 16-bit checksum.
"""

import struct

_SIGNATURE = 0x223E9F78
_MESSAGE, _ATTACHMENT = 1, 2


def _attribute(level: int, name: int, kind: int, data: bytes) -> bytes:
    checksum = sum(data) & 0xFFFF
    return struct.pack("<BHHI", level, name, kind, len(data)) + data + struct.pack("<H", checksum)


def make_tnef(files: list[tuple[str, bytes]], body: str = "") -> bytes:
    """A winmail.dat holding `files` (name, bytes) and, optionally, a plain-text body."""
    out = struct.pack("<IH", _SIGNATURE, 0)
    out += _attribute(_MESSAGE, 0x9006, 0x0008, struct.pack("<I", 0x00010000))  # version
    out += _attribute(_MESSAGE, 0x9007, 0x0006, struct.pack("<II", 1252, 0))  # code page
    if body:
        out += _attribute(_MESSAGE, 0x800C, 0x0002, body.encode("cp1252"))  # attBody
    for name, data in files:
        out += _attribute(_ATTACHMENT, 0x9002, 0x0006, b"\x01\x00" + b"\xff" * 4 + b"\x00" * 8)
        out += _attribute(_ATTACHMENT, 0x8010, 0x0001, name.encode("cp1252") + b"\x00")
        out += _attribute(_ATTACHMENT, 0x800F, 0x0006, data)
    return out
