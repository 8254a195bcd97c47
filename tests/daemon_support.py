"""Helpers for tests that run the installed daemons as processes."""

from __future__ import annotations

import os
import sys
from pathlib import Path

#: The installed emaild console script, as systemd runs it.
EMAILD = str(Path(sys.executable).parent / "dnsscience-emaild")


def daemon_environment(dsn: str, nameserver: str, **extra: str) -> dict[str, str]:
    """Return this process's environment without database or dnsscience settings,
    plus ``DATABASE_URL``, ``DNSSCIENCE_NAMESERVERS`` and ``extra``."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("DB_", "PG", "DNSSCIENCE_", "DATABASE_URL"))}
    env.update({"DATABASE_URL": dsn, "DNSSCIENCE_NAMESERVERS": nameserver})
    env.update(extra)
    return env
