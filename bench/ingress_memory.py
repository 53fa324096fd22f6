"""The ingress's memory for one big message: peak and resident RSS of `postroom ingress`.

    POSTROOM_DATA_DIR=var/bench-mem .venv/bin/python -m bench.ingress_memory [MB]

Starts `postroom ingress` on a free loopback port with its own SQLite database in the
data directory, sends one message of MB megabytes (40 by default; base64 lines, as a
mailer sends an attachment) by SMTP, and prints the process's RSS before, its peak
(VmHWM) and its RSS a moment after the 250, when the memory should be back.
"""

from __future__ import annotations

import base64
import os
import smtplib
import socket
import subprocess
import sys
import time
from pathlib import Path

from postroom.testing.dovecot import free_port

HOST = "127.0.0.1"
MAILBOX = "big@acme.test"


def _status_mb(pid: int, key: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    raise LookupError(key)


def _message(megabytes: int) -> bytes:
    payload = base64.encodebytes(os.urandom(megabytes * 1024 * 1024 * 3 // 4))
    return (
        b"From: Anna <anna@customer.test>\r\nTo: " + MAILBOX.encode() + b"\r\n"
        b"Subject: A big file\r\n"
        b"Message-ID: <big-" + str(time.time()).encode() + b"@customer.test>\r\n"
        b"MIME-Version: 1.0\r\nContent-Type: application/octet-stream\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n" + payload.replace(b"\n", b"\r\n")
    )


def _greets(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=1) as sock:
            return sock.recv(64).startswith(b"220")
    except OSError:
        return False


def main(megabytes: int = 40) -> None:
    data_dir = Path(os.environ.get("POSTROOM_DATA_DIR", "var/bench-mem")).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "POSTROOM_DATA_DIR": str(data_dir),
        "DATABASE_URL": f"sqlite:///{data_dir / 'mem.sqlite3'}",
    }
    postroom = [sys.executable, "-m", "postroom"]
    subprocess.run([*postroom, "migrate", "--noinput", "-v0"], env=env, check=True)
    subprocess.run(
        [*postroom, "mailbox", "add", MAILBOX, "--name", "Big", "--ingress-only"],
        env=env,
        capture_output=True,
    )
    port = free_port()
    with open(data_dir / "ingress.log", "ab") as log:
        proc = subprocess.Popen(
            [*postroom, "ingress", "--bind", f"{HOST}:{port}", "--lmtp-bind", ""],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 60
        while not _greets(port):
            if time.monotonic() > deadline or proc.poll() is not None:
                raise SystemExit("the ingress did not start; see " + str(data_dir / "ingress.log"))
            time.sleep(0.2)
        raw = _message(megabytes)
        # A small message first, so that start-up allocations are not counted as the big one's.
        with smtplib.SMTP(HOST, port, timeout=120) as client:
            client.sendmail("anna@customer.test", [MAILBOX], _message(0))
        before = _status_mb(proc.pid, "VmRSS")
        with smtplib.SMTP(HOST, port, timeout=300) as client:
            started = time.monotonic()
            client.sendmail("anna@customer.test", [MAILBOX], raw)
            took = time.monotonic() - started
        time.sleep(2)
        peak = _status_mb(proc.pid, "VmHWM")
        after = _status_mb(proc.pid, "VmRSS")
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    print(
        f"ingress, one {len(raw) / 1e6:.1f} MB message by SMTP ({took:.1f} s): "
        f"RSS before {before:.0f} MB, peak {peak:.0f} MB (+{peak - before:.0f}), "
        f"after {after:.0f} MB (+{after - before:.0f})"
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 40)
