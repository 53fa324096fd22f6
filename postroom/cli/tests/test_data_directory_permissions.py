"""The data directory is Postroom's user's alone: the SQLite database with its WAL and SHM
files, raw mail packs, stored files and the secret key are created 0600 in a 0700
directory whatever the umask Postroom was started with, and what is found open is
reported (`postroom check`) and made private when `postroom run` or `worker` starts."""

import logging
import os
import stat
import subprocess
import sys

from django.core.checks import run_checks

from postroom.cli.checks import make_data_directory_private
from postroom.testing.processes import stop, wait_for

# Writes a raw message to a pack and a file to the default storage, then prints the
# modes of the database's WAL and SHM files while its connection is still open.
_WRITE = """
import os, stat
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection, transaction
from postroom.mail import rawstore
raw = b"Subject: hi\\r\\n\\r\\nhello\\r\\n"
with transaction.atomic():
    rawstore.put_many({rawstore.sha256_of(raw): raw})
default_storage.save("attachments/a.bin", ContentFile(b"data"))
db = connection.settings_dict["NAME"]
for suffix in ("-wal", "-shm"):
    print(suffix, oct(stat.S_IMODE(os.stat(str(db) + suffix).st_mode)))
"""


def _env(data_dir) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "POSTROOM_SECRET_KEY")}
    return {**env, "POSTROOM_DATA_DIR": str(data_dir), "POSTROOM_RAW_STORE": "files"}


def _postroom(data_dir, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "postroom", *args],
        env=_env(data_dir),
        capture_output=True,
        text=True,
        timeout=120,
        # As an operator's shell would start it: files world-readable by default.
        preexec_fn=lambda: os.umask(0o022),
        check=False,
    )


def _modes(root) -> dict[str, int]:
    modes = {".": stat.S_IMODE(os.lstat(root).st_mode)}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            modes[os.path.relpath(path, root)] = stat.S_IMODE(os.lstat(path).st_mode)
    return modes


def test_everything_postroom_creates_in_the_data_directory_is_private(tmp_path):
    data = tmp_path / "data"
    migrated = _postroom(data, "migrate", "--no-input", "-v0")
    assert migrated.returncode == 0, migrated.stderr
    written = _postroom(data, "shell", "--no-imports", "-c", _WRITE)
    assert written.returncode == 0, written.stderr
    assert written.stdout.split() == ["-wal", "0o600", "-shm", "0o600"]

    modes = _modes(data)
    assert {"postroom.sqlite3", "secret_key", "raw", "blobs/attachments/a.bin"} <= modes.keys()
    assert any(name.startswith("raw/") and modes[name] == 0o600 for name in modes)
    loose = {
        name: oct(mode)
        for name, mode in modes.items()
        if mode != (0o700 if (data / name).is_dir() else 0o600)
    }
    assert loose == {}
    assert "postroom.W001" not in _postroom(data, "check").stderr


def test_postroom_check_warns_of_a_loosened_database(tmp_path):
    data = tmp_path / "data"
    assert _postroom(data, "migrate", "--no-input", "-v0").returncode == 0
    (data / "postroom.sqlite3").chmod(0o644)
    data.chmod(0o755)
    checked = _postroom(data, "check")
    assert "postroom.W001" in checked.stderr
    assert "postroom.sqlite3 (0644)" in checked.stderr and ". (0755)" in checked.stderr
    assert f"chmod -R go-rwx {data}" in checked.stderr


def test_the_check_is_silent_on_a_private_data_directory(settings, tmp_path):
    settings.DATA_DIR = tmp_path
    (tmp_path / "secret_key").write_text("x")
    tmp_path.chmod(0o700)
    assert [m for m in run_checks() if m.id == "postroom.W001"] == []


def test_the_start_up_check_makes_the_data_directory_private_and_says_so(
    settings, tmp_path, caplog
):
    settings.DATA_DIR = tmp_path
    (tmp_path / "postroom.sqlite3-shm").write_bytes(b"x")
    (tmp_path / "postroom.sqlite3-shm").chmod(0o644)
    tmp_path.chmod(0o755)
    with caplog.at_level(logging.WARNING, logger="postroom.datadir"):
        make_data_directory_private()
    assert "open to other users" in caplog.text and "postroom.sqlite3-shm (0644)" in caplog.text
    assert _modes(tmp_path) == {".": 0o700, "postroom.sqlite3-shm": 0o600}


def test_postroom_worker_makes_a_loosened_data_directory_private_when_it_starts(tmp_path):
    data = tmp_path / "data"
    assert _postroom(data, "migrate", "--no-input", "-v0").returncode == 0
    (data / "postroom.sqlite3").chmod(0o666)
    log = tmp_path / "worker.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "postroom", "worker"],
        env=_env(data),
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=lambda: os.umask(0o022),
    )
    try:
        wait_for(lambda: "made private" in log.read_text(), 60, "the start-up check")
    finally:
        stop(proc)
    assert "postroom.sqlite3 (0666)" in log.read_text()
    assert stat.S_IMODE(os.stat(data / "postroom.sqlite3").st_mode) == 0o600
