"""Run Debian's unbound as the test bed's recursive resolver on loopback.

unbound resolves only through stub zones: every test bed zone points at Knot,
and the responder's zones (``timeout.test`` among them, whose rule never
responds) point at the responder, so a delegation that times out can be tested.
A stub zone for the root also points at Knot, which rejects it with REFUSED, so
unbound never uses its root hints and never sends a query off the machine.
Only the iterator module runs: no DNSSEC validation. unbound runs as the
current user without chroot, in the foreground.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

from dnsscience.testbed.network import (
    LOOPBACK_IPV4,
    LOOPBACK_IPV6,
    free_port,
    ipv6_loopback_available,
    wait_for_dns,
)
from dnsscience.testbed.process import LoopbackDnsServer, ManagedProcess, find_program

logger = logging.getLogger(__name__)

__all__ = ["UnboundServer"]

START_TIMEOUT = 30.0



def _unbound_address(nameserver: str) -> str:
    """Convert ``host:port`` or ``[v6]:port`` into unbound's ``host@port``."""
    host, _, port = nameserver.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"nameserver {nameserver!r} is invalid: use HOST:PORT")
    return f"{host.strip('[]')}@{port}"


class UnboundServer(LoopbackDnsServer):
    """A private unbound with stub zones to the test bed's servers."""

    def __init__(
        self,
        workdir: Path | str,
        knot_nameserver: str,
        zones: Iterable[str],
        responder_nameserver: str | None = None,
        responder_zones: Iterable[str] = (),
        port: int | None = None,
        listen_ipv6: bool | None = None,
    ) -> None:
        self.workdir = Path(workdir)
        self.knot_nameserver = knot_nameserver
        self.zones = [zone.rstrip(".") for zone in zones]
        self.responder_nameserver = responder_nameserver
        self.responder_zones = [zone.rstrip(".") for zone in responder_zones]
        if self.responder_zones and not responder_nameserver:
            raise ValueError("responder zones were given without responder_nameserver")
        self.listen_ipv6 = ipv6_loopback_available() if listen_ipv6 is None else listen_ipv6
        self.port = port or free_port(include_ipv6=self.listen_ipv6)
        self.config_path = self.workdir / "unbound.conf"
        self._process: ManagedProcess | None = None

    def _stub(self, name: str, nameserver: str) -> list[str]:
        return [
            "stub-zone:",
            f'    name: "{name}."' if name else '    name: "."',
            f"    stub-addr: {_unbound_address(nameserver)}",
            "",
        ]

    def _write_config(self) -> None:
        interfaces = [f"    interface: {LOOPBACK_IPV4}"]
        if self.listen_ipv6:
            interfaces.append(f"    interface: {LOOPBACK_IPV6}")
        lines = [
            "server:",
            *interfaces,
            f"    port: {self.port}",
            f"    do-ip6: {'yes' if self.listen_ipv6 else 'no'}",
            "    access-control: 127.0.0.0/8 allow",
            "    access-control: ::1 allow",
            '    username: ""',
            '    chroot: ""',
            f'    directory: "{self.workdir}"',
            f'    pidfile: "{self.workdir / "unbound.pid"}"',
            '    logfile: ""',
            "    use-syslog: no",
            "    verbosity: 1",
            "    num-threads: 1",
            "    so-reuseport: no",
            '    module-config: "iterator"',
            "    do-not-query-localhost: no",
            "    qname-minimisation: no",
            "    harden-referral-path: no",
            "    edns-buffer-size: 1232",
            # Small caches, so one test's answers do not hide another's changes.
            "    cache-max-ttl: 60",
            "    cache-max-negative-ttl: 5",
            "    infra-host-ttl: 5",
            # unbound serves test., invalid. and onion. as empty local zones by default.
            '    local-zone: "test." nodefault',
            '    local-zone: "invalid." nodefault',
            "",
            "remote-control:",
            "    control-enable: no",
            "",
        ]
        for zone in self.responder_zones:
            lines += self._stub(zone, self.responder_nameserver)
        for zone in self.zones:
            if zone not in self.responder_zones:
                lines += self._stub(zone, self.knot_nameserver)
        lines += self._stub("", self.knot_nameserver)
        self.config_path.write_text("\n".join(lines))

    def start(self, timeout: float = START_TIMEOUT) -> None:
        """Start unbound and wait until it resolves the first zone's SOA."""
        if self._process is not None:
            raise RuntimeError("unbound is already running; call stop() first")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._write_config()
        self._process = ManagedProcess(
            "unbound",
            [find_program("unbound", "unbound"), "-d", "-c", str(self.config_path)],
            self.workdir / "unbound.log",
        )
        self._process.start()
        try:
            wait_for_dns(
                LOOPBACK_IPV4,
                self.port,
                self.zones[:1],
                timeout,
                is_alive=self._process.is_running,
                recursion_desired=True,
            )
        except (RuntimeError, TimeoutError) as error:
            log = self._process.log_tail()
            self.stop()
            raise type(error)(f"{error}; unbound log:\n{log}") from error
        logger.info("unbound resolves on %s with %d stub zones", self.nameserver, len(self.zones))

