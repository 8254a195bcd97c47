"""Run Knot DNS (``knotd``) as the test bed's authoritative server on loopback.

``KnotServer`` writes its own configuration into a private folder (rundir,
database storage, control socket, log), starts ``knotd`` in the foreground,
waits until every zone answers SOA, and stops it with SIGTERM. It listens on
127.0.0.1 and, where the host has it, on ::1, at one port for UDP and TCP.

Zone loading is tuned for large generated zones: no journal, no zone file
write-back and no semantic checks. Knot's default UDP payload limit of 1232
bytes stays in place, so larger answers are truncated over UDP.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from dnsscience.testbed.network import (
    LOOPBACK_IPV4,
    LOOPBACK_IPV6,
    format_nameserver,
    free_port,
    ipv6_loopback_available,
    wait_for_dns,
)
from dnsscience.testbed.process import LoopbackDnsServer, ManagedProcess, find_program

logger = logging.getLogger(__name__)

__all__ = ["KnotServer"]

# Knot loaded 100,000 generated domains (35 MB of zone files) in about 3 s on a
# 2-core VM, so this limit leaves room for slow or busy machines.
DEFAULT_START_TIMEOUT = 180.0



class KnotServer(LoopbackDnsServer):
    """A private ``knotd`` serving the given zone files on loopback."""

    def __init__(
        self,
        zone_files: dict[str, Path],
        workdir: Path,
        port: int | None = None,
        listen_ipv6: bool | None = None,
        workers: int = 2,
    ) -> None:
        if not zone_files:
            raise ValueError("no zone files given: pass origin -> path for at least one zone")
        self.zone_files = dict(zone_files)
        self.workdir = Path(workdir)
        self.listen_ipv6 = ipv6_loopback_available() if listen_ipv6 is None else listen_ipv6
        self.port = port or free_port(include_ipv6=self.listen_ipv6)
        self.workers = workers
        self.config_path = self.workdir / "knot.conf"
        self._process: ManagedProcess | None = None

    @property
    def nameserver_ipv6(self) -> str | None:
        """``[::1]:PORT``, or None when the server does not listen on IPv6."""
        return format_nameserver(LOOPBACK_IPV6, self.port) if self.listen_ipv6 else None

    def _write_config(self) -> None:
        for folder in ("run", "db"):
            (self.workdir / folder).mkdir(parents=True, exist_ok=True)
        listen = [f"    listen: {LOOPBACK_IPV4}@{self.port}"]
        if self.listen_ipv6:
            listen.append(f"    listen: {LOOPBACK_IPV6}@{self.port}")
        lines = [
            "server:",
            f'    rundir: "{self.workdir / "run"}"',
            *listen,
            f"    udp-workers: {self.workers}",
            f"    tcp-workers: {self.workers}",
            f"    background-workers: {self.workers}",
            "",
            "database:",
            f'    storage: "{self.workdir / "db"}"',
            "",
            "control:",
            f'    listen: "{self.workdir / "run" / "knot.sock"}"',
            "",
            "log:",
            "  - target: stderr",
            "    any: notice",
            "",
            "template:",
            "  - id: default",
            "    zonefile-sync: -1",
            "    zonefile-load: whole",
            "    journal-content: none",
            "    semantic-checks: off",
            "",
            "zone:",
        ]
        for origin, path in self.zone_files.items():
            lines.append(f'  - domain: "{origin}."')
            lines.append(f'    file: "{Path(path).resolve()}"')
        self.config_path.write_text("\n".join(lines) + "\n")

    def start(self, timeout: float = DEFAULT_START_TIMEOUT) -> None:
        """Start ``knotd`` and wait until every zone answers SOA with NOERROR.

        Raises RuntimeError with the server's log if it exits, TimeoutError if
        the zones are not loaded within ``timeout`` seconds.
        """
        if self._process is not None:
            raise RuntimeError("the Knot server is already running; call stop() first")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._write_config()
        started = time.monotonic()
        self._process = ManagedProcess(
            "knotd",
            [find_program("knotd", "knot"), "-c", str(self.config_path)],
            self.workdir / "knotd.log",
        )
        self._process.start()
        try:
            wait_for_dns(
                LOOPBACK_IPV4,
                self.port,
                list(self.zone_files),
                timeout,
                is_alive=self._zones_may_still_load,
            )
        except (RuntimeError, TimeoutError) as error:
            log = self._process.log_tail()
            self.stop()
            raise type(error)(f"{error}; knotd log:\n{log}") from error
        logger.info(
            "knotd serves %d zones on %s after %.1f s",
            len(self.zone_files),
            self.nameserver,
            time.monotonic() - started,
        )

    def _zones_may_still_load(self) -> bool:
        """Return False once knotd exited or logged that a zone failed to load."""
        if self._process is None or not self._process.is_running():
            return False
        try:
            log = self._process.log_path.read_text(errors="replace")
        except OSError:
            return True
        return "failed to load zone" not in log and "event 'load' failed" not in log

