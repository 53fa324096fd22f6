"""The data directory's permissions: the SQLite database (with its WAL and SHM files),
raw mail packs, attachment blobs and the generated secret key are readable by the
service's own user alone. Django-free: settings and start-up checks call it."""

import os
import stat
from pathlib import Path

# Everything Postroom creates is its own user's alone: 0700 directories, 0600 files.
UMASK = 0o077
DIR_MODE = 0o700
FILE_MODE = 0o600
# More than this many loosened paths are counted, not listed.
LISTED = 10


def restrict_umask() -> int:
    """Set the process's umask so that what it creates next is private; the old umask."""
    return os.umask(UMASK)


def _walk(root: Path):
    """The root, then every directory and file under it; symbolic links are not
    followed (a link's target is not the data directory's)."""
    yield root, True
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        base = Path(dirpath)
        for name in dirnames:
            path = base / name
            if not path.is_symlink():
                yield path, True
        for name in filenames:
            path = base / name
            if not path.is_symlink():
                yield path, False


def _open_to_others(mode: int) -> bool:
    return bool(stat.S_IMODE(mode) & (stat.S_IRWXG | stat.S_IRWXO))


def loosened(root: Path) -> list[Path]:
    """Paths under `root` (and itself) that its group or others may read, write or
    enter, e.g. a database created before the umask, or a backup restored as 0644."""
    found = []
    for path, _is_dir in _walk(root):
        try:
            if _open_to_others(path.lstat().st_mode):
                found.append(path)
        except FileNotFoundError:  # removed while walking (a pack being replaced)
            continue
    return found


def tighten(root: Path) -> list[Path]:
    """chmod what others may reach under `root` to 0700 (directories) or 0600 (files);
    the paths changed."""
    changed = []
    for path in loosened(root):
        try:
            os.chmod(path, DIR_MODE if path.is_dir() else FILE_MODE)
        except FileNotFoundError:
            continue
        changed.append(path)
    return changed


def describe(paths: list[Path], root: Path) -> str:
    """'postroom.sqlite3 (0644), raw (0755) and 3 more', for a log line."""
    shown = []
    for path in paths[:LISTED]:
        try:
            mode = f"{stat.S_IMODE(path.lstat().st_mode):04o}"
        except FileNotFoundError:
            mode = "gone"
        name = "." if path == root else str(path.relative_to(root))
        shown.append(f"{name} ({mode})")
    more = f" and {len(paths) - LISTED} more" if len(paths) > LISTED else ""
    return ", ".join(shown) + more
