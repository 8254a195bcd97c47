"""The batch worker shared by the ssl_scanner and ssl_monitord daemons.

A :class:`TlsWorker` claims domains (the subclass decides which), probes every
(domain, port) pair through one ``_core.tls_session``, and stores the results of
each domain once all its ports have finished, so a domain's attempt is always
judged as a whole. Results are written in groups, one transaction each, every
``FLUSH_SECONDS`` or ``FLUSH_DOMAINS`` domains.

On a stop request the worker starts nothing new. It waits up to
``DRAIN_SECONDS`` for probes in flight, stores every domain that finished, and
releases the leases of the others, which stay due. A domain is therefore either
stored once with all its ports or left untouched; the SIGTERM test in
tests/test_ssl_daemons.py checks this.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from dnsscience import _core
from dnsscience.daemons.runtime import (
    DRAIN_SECONDS,
    StopSignal,
    instance_name,
    raise_open_file_limit,
)
from dnsscience.errors import InvalidArgumentError

# Imported for its side effect as well: it declares the TLS tables to the schema
# check that the runtime runs before the first batch.
from dnsscience.store import tls as tls_store

__all__ = ["FLUSH_DOMAINS", "FLUSH_SECONDS", "TlsWorker"]

#: Results are committed when this many domains are complete...
FLUSH_DOMAINS = 200
#: ...or when the oldest complete domain has waited this long, in seconds.
FLUSH_SECONDS = 2.0
#: Pause between deletions of attempts older than the retention period, in seconds.
RETENTION_INTERVAL = 3600.0

# Deadlines of one probe, in seconds: connect, STARTTLS dialogue, handshake, and the
# whole target including queueing behind the per-address cap.
CONNECT_TIMEOUT = 3.0
STARTTLS_TIMEOUT = 5.0
HANDSHAKE_TIMEOUT = 5.0
TOTAL_TIMEOUT = 15.0


@dataclass
class _DomainProgress:
    """Results collected so far for one claimed domain."""

    claim: Any
    waiting: set[int]
    results: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class BatchCounts:
    """Counters of one batch, for the statistics log line."""

    domains: int = 0
    attempts: int = 0
    certificates: int = 0
    failed: int = 0
    expired: int = 0
    expiring_soon: int = 0
    weak_keys: int = 0
    released: int = 0

    def add(self, result: dict[str, Any]) -> None:
        self.attempts += 1
        if not result.get("certificate"):
            self.failed += 1
            return
        self.certificates += 1
        codes = {finding.get("code") for finding in result.get("findings") or []}
        self.expired += "expired" in codes
        self.expiring_soon += "expiring_soon" in codes
        self.weak_keys += "weak_key" in codes


class TlsWorker:
    """Claims domains, probes their ports and stores the results, batch by batch.

    Subclasses set ``schema_scope`` and ``daemon_label`` and implement
    :meth:`claim` and :meth:`ports_for`.
    """

    schema_scope = ""
    settings_part = "tls"
    daemon_label = ""

    def __init__(self, settings: Any, logger: logging.Logger) -> None:
        self.settings = settings
        self.logger = logger
        self.instance = instance_name()
        self.session: Any = None
        self.total_domains = 0
        self.last_retention = 0.0

    # -- hooks -------------------------------------------------------------------

    def claim(self, connection: Any) -> list[Any]:
        """Lease the domains of the next batch."""
        raise NotImplementedError

    def ports_for(self, claim: Any) -> Sequence[int]:
        """Return the ports to probe for one claimed domain."""
        raise NotImplementedError

    def report(self, counts: BatchCounts, elapsed: float, results: list[dict[str, Any]]) -> None:
        """Log what a batch did; subclasses add their own lines."""
        self.logger.info(
            "Batch: %d domains, %d handshakes, %d certificates, %d failed, %d expired, "
            "%d expiring soon, %d weak keys, %d released in %.1f s (%.1f domains/s); "
            "%d domains since start",
            counts.domains,
            counts.attempts,
            counts.certificates,
            counts.failed,
            counts.expired,
            counts.expiring_soon,
            counts.weak_keys,
            counts.released,
            elapsed,
            counts.domains / elapsed if elapsed > 0 else 0.0,
            self.total_domains,
        )

    # -- Worker protocol ---------------------------------------------------------

    def open(self, connection: Any) -> None:
        workers = int(self.settings.ssl_scanner_workers)
        connections = int(self.settings.tls_connection_limit)
        # One socket per target in progress, plus the database and DNS sockets.
        raise_open_file_limit(connections + 1024, self.logger)
        self.session = _core.tls_session(
            nameservers=list(self.settings.nameservers),
            connect_timeout=CONNECT_TIMEOUT,
            starttls_timeout=STARTTLS_TIMEOUT,
            handshake_timeout=HANDSHAKE_TIMEOUT,
            total_timeout=TOTAL_TIMEOUT,
            ca_file=self.settings.ca_file or "",
            max_in_flight=connections,
            max_handshakes=workers,
        )

    def close(self) -> None:
        if self.session is not None:
            self.session.close()
            self.session = None

    def run_batch(self, connection: Any, stop: StopSignal) -> int:
        self._delete_old_attempts(connection)
        claims = self.claim(connection)
        if not claims:
            return 0

        started = time.monotonic()
        progress, items = self._plan(claims)
        if items:
            self.session.submit(list(items))
        counts = BatchCounts()
        all_results: list[dict[str, Any]] = []
        stored = self._collect(connection, progress, items, stop, counts, all_results)

        unfinished = sorted(set(progress) - stored)
        if unfinished:
            # Stopped before these finished: give them back so another instance, or the
            # next start, probes them without waiting for the lease to expire.
            counts.released = tls_store.release_claims(connection, unfinished, self.instance)
            self.logger.info("Released %d unfinished domains; they stay due", counts.released)

        self.total_domains += counts.domains
        self.report(counts, time.monotonic() - started, all_results)
        return counts.domains

    # -- internals ---------------------------------------------------------------

    def _plan(
        self, claims: list[Any]
    ) -> tuple[dict[int, _DomainProgress], dict[str, tuple[int, int]]]:
        """Return the progress of every claim and the session items: item -> (domain, port)."""
        progress: dict[int, _DomainProgress] = {}
        items: dict[str, tuple[int, int]] = {}
        for claim in claims:
            ports = sorted(set(self.ports_for(claim)))
            entry = _DomainProgress(claim, set())
            progress[claim.domain_id] = entry
            try:
                host = _core.normalize_domain(claim.domain_name)
            except InvalidArgumentError as error:
                # Stored as a claim without results: stamped, due again after the
                # rescan period like any permanent failure.
                self.logger.warning(
                    "Domain %r (id %d) is not a valid host name, not probed: %s",
                    claim.domain_name,
                    claim.domain_id,
                    error,
                )
                continue
            for port in ports:
                items[json.dumps({"host": host, "port": port})] = (claim.domain_id, port)
                entry.waiting.add(port)
        return progress, items

    def _collect(
        self,
        connection: Any,
        progress: dict[int, _DomainProgress],
        items: dict[str, tuple[int, int]],
        stop: StopSignal,
        counts: BatchCounts,
        all_results: list[dict[str, Any]],
    ) -> set[int]:
        """Poll results until every domain is stored or the drain ends; return the stored ids."""
        by_target = {
            (json.loads(item)["host"], port): domain_id for item, (domain_id, port) in items.items()
        }
        probing = {domain_id for domain_id, entry in progress.items() if entry.waiting}
        # Domains with no probe at all (invalid names) are complete from the start.
        ready = [domain_id for domain_id, entry in progress.items() if not entry.waiting]
        stored: set[int] = set()
        abandoned: set[int] = set()
        last_flush = time.monotonic()
        drain_deadline: float | None = None

        while probing:
            if stop.requested and drain_deadline is None:
                not_started = self.session.stop_new()
                # A domain with a port never probed cannot be judged, so it is released.
                abandoned = {items[item][0] for item in not_started if item in items}
                probing -= abandoned
                drain_deadline = time.monotonic() + DRAIN_SECONDS
                self.logger.info(
                    "Stop requested: %d probes not started, waiting up to %.0f s for %d "
                    "domains in flight",
                    len(not_started),
                    DRAIN_SECONDS,
                    len(probing),
                )
                continue
            if drain_deadline is not None and time.monotonic() > drain_deadline:
                break

            for text in self.session.poll(512, 0.2):
                for result in _documents(text):
                    target = (result.get("host"), int(result.get("port", 0)))
                    domain_id = by_target.get(target)
                    if domain_id is None:
                        self.logger.error("Result for unclaimed target %s:%s dropped", *target)
                        continue
                    if domain_id in abandoned:
                        continue
                    entry = progress[domain_id]
                    result["domain_id"] = domain_id
                    result["domain_name"] = entry.claim.domain_name
                    entry.results.append(result)
                    entry.waiting.discard(target[1])
                    if not entry.waiting:
                        probing.discard(domain_id)
                        ready.append(domain_id)

            now = time.monotonic()
            if len(ready) >= FLUSH_DOMAINS or (ready and now - last_flush >= FLUSH_SECONDS):
                self._store(connection, progress, ready, counts, all_results)
                stored.update(ready)
                ready = []
                last_flush = now

        if ready:
            self._store(connection, progress, ready, counts, all_results)
            stored.update(ready)
        return stored

    def _store(
        self,
        connection: Any,
        progress: dict[int, _DomainProgress],
        domain_ids: list[int],
        counts: BatchCounts,
        all_results: list[dict[str, Any]],
    ) -> None:
        results = [result for domain_id in domain_ids for result in progress[domain_id].results]
        claims = [progress[domain_id].claim for domain_id in domain_ids]
        tls_store.store_results(
            connection,
            results,
            instance=self.instance,
            daemon=self.daemon_label,
            rescan_days=int(self.settings.rescan_days),
            claimed=claims,
        )
        counts.domains += len(domain_ids)
        for result in results:
            counts.add(result)
        all_results.extend(results)

    def _delete_old_attempts(self, connection: Any) -> None:
        now = time.monotonic()
        if self.last_retention and now - self.last_retention < RETENTION_INTERVAL:
            return
        self.last_retention = now
        deleted = tls_store.delete_old_attempts(
            connection, int(self.settings.attempt_retention_days)
        )
        if deleted:
            self.logger.info(
                "Deleted %d TLS attempts older than %d days",
                deleted,
                self.settings.attempt_retention_days,
            )


def _documents(text: str) -> list[dict[str, Any]]:
    # An item yields a JSON array when the session probed several addresses of it.
    document = json.loads(text)
    return document if isinstance(document, list) else [document]
