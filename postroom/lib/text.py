"""Plain text tidied for a short preview that keeps its lines (pure, no Django)."""

import re

_SPACES = re.compile(r"[ \t\f\v\u00a0]+")
_BLANK_RUNS = re.compile(r"\n{3,}")


def tidy_lines(text: str) -> str:
    """`text` with its line structure kept: spaces run together within each line, each
    line stripped, blank lines kept but never more than one in a row, none at either end.

    A snippet of "Best regards,\\nAnna Client\\nACME GmbH" shown with CSS
    `white-space: pre-line` reads as the signature it is, not "Best regards, Anna
    Client ACME GmbH"."""
    text = (text or "").replace("\r\n", "\n").replace("\r", "\n")
    lines = [_SPACES.sub(" ", line).strip() for line in text.split("\n")]
    return _BLANK_RUNS.sub("\n\n", "\n".join(lines)).strip("\n")


def preview(text: str, chars: int, lines: int) -> str:
    """The start of `text` (tidied) up to `chars` characters and `lines` lines, with "…"
    when anything was left out."""
    tidy = tidy_lines(text)
    kept = tidy.split("\n")[:lines]
    shown = "\n".join(kept).rstrip()
    if len(shown) > chars:
        cut = shown.rfind(" ", 0, chars)
        shown = shown[: cut if cut > chars // 2 else chars].rstrip()
    return shown + ("…" if len(shown) < len(tidy.rstrip()) else "")
