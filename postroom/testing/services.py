"""Checks for the services the tests talk to (PostgreSQL, Redis, RabbitMQ)."""

import os
import socket

import pytest


def require_port(port: int, name: str, host: str = "127.0.0.1") -> None:
    """Skip when the service is down, except under CI=true, where that is a failure."""
    try:
        socket.create_connection((host, port), timeout=2).close()
    except OSError as exc:
        message = f"{name} does not answer on {host}:{port}: {exc}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
