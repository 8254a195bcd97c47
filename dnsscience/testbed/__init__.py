"""Local test bed: DNS, PostgreSQL and TLS servers on loopback with known content.

``TestBed`` is the one entry point. It generates zones with a manifest of the
expected results (``dnsscience.testbed.generator``), serves them with Knot DNS,
and on request starts the purpose-built responder, unbound in front of both,
a PostgreSQL cluster and the TLS servers::

    with TestBed(domains=2_000, seed=7, unbound=True) as bed:
        bed.nameserver            # "127.0.0.1:PORT" of Knot
        bed.unbound_nameserver    # recursive path, follows CNAMEs across zones
        bed.manifest["truth"]["spf-two-records.hard.test"]["spf_valid"]  # False

``python -m dnsscience.testbed --domains N --seed S`` runs it until Ctrl-C.
Everything a bed starts is stopped on ``stop()``, on leaving the ``with``
block, at interpreter exit and, when started from the main thread, on SIGTERM;
its temporary folder is removed.
"""

from __future__ import annotations

import atexit
import logging
import shutil
import signal
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dnsscience.testbed.generator import GeneratedZones, generate
from dnsscience.testbed.knot import KnotServer

if TYPE_CHECKING:
    from dnsscience.testbed.responder import Responder
    from dnsscience.testbed.unbound import UnboundServer

logger = logging.getLogger(__name__)

__all__ = ["TestBed"]


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


class TestBed:
    """Servers on loopback with generated zones and their ground truth; a context manager.

    ``domains`` and ``seed`` go to the generator (hard cases and the real-world
    corpus are always added unless ``hard_cases``/``corpus`` are False).
    ``delay_ms`` delays every response of the responder (proxy mode in front of
    Knot). ``dns``, ``responder``, ``unbound``, ``postgres`` and ``tls`` choose
    the parts started by ``start()``; ``start_responder()``, ``start_unbound()``,
    ``start_postgres()`` and ``start_tls()`` add a part later. ``unbound``
    needs ``dns`` and starts the responder too, because one of its stub zones
    points at the responder's silent rule.

    Attributes (None until the part runs): ``nameserver`` and
    ``nameserver_ipv6`` (Knot), ``responder_nameserver``, ``unbound_nameserver``,
    ``manifest`` (dict, see ``generator``), ``domains``, ``zones`` (served zone
    origins), ``knot``, ``responder``, ``unbound``, ``postgres``
    (``PostgresCluster``), ``tls`` (``TlsTestBed``), ``workdir``.
    """

    # Keeps pytest from collecting this class as a test class.
    __test__ = False

    def __init__(
        self,
        domains: int = 10_000,
        seed: int = 0,
        delay_ms: float = 0.0,
        *,
        dns: bool = True,
        responder: bool = False,
        unbound: bool = False,
        postgres: bool = False,
        tls: bool = False,
        hard_cases: bool = True,
        corpus: bool = True,
        workdir: Path | str | None = None,
    ) -> None:
        if domains < 0:
            raise ValueError(f"domain count {domains} is invalid: use 0 or more")
        if delay_ms < 0:
            raise ValueError(f"delay {delay_ms} ms is invalid: use 0 or more")
        if (unbound or responder) and not dns:
            raise ValueError("the responder and unbound forward to Knot: set dns=True as well")
        self.domain_count = domains
        self.seed = seed
        self.delay_ms = delay_ms
        self.parts = {
            "dns": dns,
            "responder": responder,
            "unbound": unbound,
            "postgres": postgres,
            "tls": tls,
        }
        self.hard_cases = hard_cases
        self.corpus = corpus
        self._requested_workdir = Path(workdir) if workdir is not None else None
        self._owns_workdir = False
        self.workdir: Path | None = None
        self.generated: GeneratedZones | None = None
        self.knot: KnotServer | None = None
        self.responder: Responder | None = None
        self.unbound: UnboundServer | None = None
        self.postgres: Any = None
        self.tls: Any = None
        self._previous_sigterm: Any = None
        self._lock = threading.RLock()

    # Addresses and data -------------------------------------------------

    @property
    def nameserver(self) -> str | None:
        """``127.0.0.1:PORT`` of Knot."""
        return self.knot.nameserver if self.knot else None

    @property
    def nameserver_ipv6(self) -> str | None:
        """``[::1]:PORT`` of Knot, or None where the host has no IPv6 loopback."""
        return self.knot.nameserver_ipv6 if self.knot else None

    @property
    def responder_nameserver(self) -> str | None:
        return self.responder.nameserver if self.responder else None

    @property
    def unbound_nameserver(self) -> str | None:
        return self.unbound.nameserver if self.unbound else None

    @property
    def manifest(self) -> dict | None:
        return self.generated.manifest if self.generated else None

    @property
    def domains(self) -> list[str] | None:
        return self.generated.domains if self.generated else None

    @property
    def zones(self) -> list[str] | None:
        return self.generated.manifest["zones"] if self.generated else None

    # Lifecycle ------------------------------------------------------------

    def start(self) -> TestBed:
        """Start the chosen parts. On any failure, stop what started and re-raise."""
        self._install_stop_hooks()
        try:
            self._prepare_workdir()
            if self.parts["dns"]:
                self.start_dns()
            if self.parts["responder"]:
                self.start_responder()
            if self.parts["unbound"]:
                self.start_unbound()
            if self.parts["postgres"]:
                self.start_postgres()
            if self.parts["tls"]:
                self.start_tls()
        except BaseException:
            self.stop()
            raise
        return self

    def _prepare_workdir(self) -> Path:
        if self.workdir is None:
            if self._requested_workdir is not None:
                self.workdir = self._requested_workdir
                self.workdir.mkdir(parents=True, exist_ok=True)
            else:
                self.workdir = Path(tempfile.mkdtemp(prefix="dnsscience-testbed-"))
                self._owns_workdir = True
        return self.workdir

    def start_dns(self) -> KnotServer:
        """Generate the zones and start Knot (once)."""
        with self._lock:
            if self.knot is None:
                workdir = self._prepare_workdir()
                self.generated = generate(
                    workdir / "generated",
                    domains=self.domain_count,
                    seed=self.seed,
                    hard_cases=self.hard_cases,
                    corpus=self.corpus,
                )
                knot = KnotServer(self.generated.zone_files, workdir / "knot")
                knot.start()
                self.knot = knot
            return self.knot

    def start_responder(self, rules: list[dict] | None = None) -> Responder:
        """Start the responder (once) in front of Knot, with ``rules`` or the default rules."""
        from dnsscience.testbed.responder import Responder

        knot = self.start_dns()
        with self._lock:
            if self.responder is None:
                responder = Responder(
                    self._prepare_workdir() / "responder",
                    upstream=knot.nameserver,
                    delay_ms=self.delay_ms,
                    rules=rules,
                )
                responder.start()
                self.responder = responder
            return self.responder

    def start_unbound(self) -> UnboundServer:
        """Start unbound (once) with stub zones to Knot and to the responder."""
        from dnsscience.testbed.unbound import UnboundServer

        knot = self.start_dns()
        responder = self.start_responder()
        with self._lock:
            if self.unbound is None:
                unbound = UnboundServer(
                    self._prepare_workdir() / "unbound",
                    knot_nameserver=knot.nameserver,
                    zones=self.generated.manifest["zones"],
                    responder_nameserver=responder.nameserver,
                    responder_zones=responder.zones,
                )
                unbound.start()
                self.unbound = unbound
            return self.unbound

    def start_postgres(self) -> Any:
        """Start a ``PostgresCluster`` (once); ``create_database(name)`` returns a DSN."""
        from dnsscience.testbed.postgres import PostgresCluster

        with self._lock:
            if self.postgres is None:
                cluster = PostgresCluster()
                cluster.start()
                self.postgres = cluster
            return self.postgres

    def start_tls(self) -> Any:
        """Start the TLS servers (``TlsTestBed``, once)."""
        from dnsscience.testbed.tls import TlsTestBed

        with self._lock:
            if self.tls is None:
                tls = TlsTestBed()
                tls.start()
                self.tls = tls
            return self.tls

    def stop(self) -> None:
        """Stop every part in reverse order and remove a temporary folder. Safe to call twice."""
        for attribute in ("tls", "postgres", "unbound", "responder", "knot"):
            part = getattr(self, attribute)
            if part is None:
                continue
            setattr(self, attribute, None)
            try:
                part.stop()
            except Exception:
                logger.exception("stopping the test bed's %s failed", attribute)
        if self._owns_workdir and self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None
            self._owns_workdir = False
        self._remove_stop_hooks()

    def _install_stop_hooks(self) -> None:
        atexit.register(self.stop)
        if threading.current_thread() is not threading.main_thread():
            return
        if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
            self._previous_sigterm = signal.signal(signal.SIGTERM, _exit_on_sigterm)

    def _remove_stop_hooks(self) -> None:
        atexit.unregister(self.stop)
        if self._previous_sigterm is not None and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, self._previous_sigterm)
            self._previous_sigterm = None

    def __enter__(self) -> TestBed:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
