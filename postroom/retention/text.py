"""Figures as people read them, for the commands and the pages."""


def human_bytes(n: int | None) -> str:
    """1536 -> '1.5 KB'; exact bytes below a kilobyte."""
    n = n or 0
    if n < 1024:
        return f"{n} B"
    value = float(n)
    for unit in ("KB", "MB", "GB", "TB"):
        value /= 1024
        if value < 1024 or unit == "TB":
            return f"{value:.1f} {unit}"
    return f"{n} B"  # not reached


def days_text(days: int | None) -> str:
    return "keep" if days is None else f"{days} days"
