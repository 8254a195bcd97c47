"""emaild: checks the email security of due domains and stores it in PostgreSQL.

A drop-in replacement for the original Email Validator daemon (daemon name
``dnsscience_emaild``): the same tables and legacy columns, written in batches by a
concurrent C++ checker instead of one domain at a time.

Each batch claims due domains under a lease, checks them all concurrently, and
commits results every few seconds in one transaction per group. On SIGTERM it
stops starting new domains, lets those in flight finish for up to 20 seconds,
commits what finished and releases the rest, which stay due.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from typing import Any

from dnsscience import _core, metrics
from dnsscience.daemons.runtime import (
    DRAIN_SECONDS,
    StopSignal,
    instance_name,
    main_entry,
    raise_open_file_limit,
)
from dnsscience.email import (
    DEFAULT_DKIM_SELECTORS,
    DEFAULT_INFLIGHT_PER_NAMESERVER,
    DEFAULT_MIN_INFLIGHT_PER_NAMESERVER,
)
from dnsscience.errors import InvalidArgumentError
from dnsscience.results import TRANSIENT_STATUSES

__all__ = ["DAEMON_NAME", "EmailWorker", "main"]

DAEMON_NAME = "dnsscience_emaild"

#: Results are committed when this many are waiting...
FLUSH_RESULTS = 500
#: ...or when the oldest has waited this long, in seconds.
FLUSH_SECONDS = 2.0
#: How long one run_batch keeps claiming further batches, in seconds. It then
#: returns, so the runtime writes a heartbeat at least this often while busy.
REFILL_SECONDS = 60.0


class EmailWorker:
    """Claims due domains, checks them and stores the results, batch by batch."""

    schema_scope = "emaild"
    settings_part = "email"

    def __init__(self, settings: Any, logger: logging.Logger) -> None:
        self.settings = settings
        self.logger = logger
        self.instance = instance_name()
        self.session: Any = None
        self.total_done = 0
        self.last_claimed = 0
        self.started = time.monotonic()

    def open(self, connection: Any) -> None:
        # Each domain in flight may need a TCP socket after truncation, and the UDP
        # channels and the database need descriptors too.
        raise_open_file_limit(self.settings.concurrency * 4 + 1024, self.logger)
        selectors = self.settings.dkim_selectors or list(DEFAULT_DKIM_SELECTORS)
        self.session = _core.email_session(
            nameservers=list(self.settings.nameservers),
            timeout=2.0,
            tries=3,
            qps=float(self.settings.qps),
            domain_timeout=10.0,
            dkim_selectors=selectors,
            max_in_flight=int(self.settings.concurrency),
            max_inflight_per_nameserver=DEFAULT_INFLIGHT_PER_NAMESERVER,
            min_inflight_per_nameserver=DEFAULT_MIN_INFLIGHT_PER_NAMESERVER,
        )

    def close(self) -> None:
        if self.session is not None:
            self.session.close()
            self.session = None

    def run_batch(self, connection: Any, stop: StopSignal) -> int:
        from dnsscience.store import email as email_store

        claimed = self._claim(connection)
        self.last_claimed = len(claimed)
        if not claimed:
            return 0

        started = time.monotonic()
        ids_by_name = self._index_names(claimed)
        self.session.submit([name for _, name in claimed])
        outstanding = {domain_id for domain_id, _ in claimed}
        not_started: set[int] = set()
        stored = self._collect(
            connection, ids_by_name, outstanding, not_started, stop, started + REFILL_SECONDS
        )

        unfinished = outstanding | not_started
        if unfinished:
            # Stopped before these finished: give them back so another instance (or
            # the next start) checks them without waiting for the lease to expire.
            email_store.release_claims(connection, sorted(unfinished), self.instance)
            self.logger.info("Released %d unfinished domains; they stay due", len(unfinished))

        elapsed = time.monotonic() - started
        self.total_done += stored
        self.logger.info(
            "Batch: %d domains checked and stored in %.1f s (%.1f domains/s); %d since start",
            stored,
            elapsed,
            stored / elapsed if elapsed > 0 else 0.0,
            self.total_done,
        )
        return stored

    def _claim(self, connection: Any) -> list[tuple[int, str]]:
        from dnsscience.store import email as email_store

        return email_store.claim_due(
            connection,
            limit=self.settings.batch_size,
            rescan_days=self.settings.rescan_days,
            instance=self.instance,
            lease_seconds=self.settings.lease_seconds,
        )

    def _refill(
        self, connection: Any, ids_by_name: dict[str, int], outstanding: set[int]
    ) -> bool:
        """Claim and submit the next batch; return False when nothing more is due."""
        more = self._claim(connection)
        if not more:
            return False
        ids_by_name.update(self._index_names(more))
        outstanding.update(domain_id for domain_id, _ in more)
        self.session.submit([name for _, name in more])
        self.last_claimed += len(more)
        return True

    @staticmethod
    def _index_names(claimed: Sequence[tuple[int, str]]) -> dict[str, int]:
        # Results name the domain in normalized form (or as given, when invalid), so
        # both spellings map to the row.
        ids: dict[str, int] = {}
        for domain_id, name in claimed:
            ids[name] = domain_id
            try:
                ids[_core.normalize_domain(name)] = domain_id
            except InvalidArgumentError:
                pass
        return ids

    def _collect(
        self,
        connection: Any,
        ids_by_name: dict[str, int],
        outstanding: set[int],
        not_started: set[int],
        stop: StopSignal,
        refill_until: float | None,
    ) -> int:
        """Poll results into groups and store each group; return how many were stored.

        After a stop request, the ids of domains that were never started move from
        ``outstanding`` to ``not_started``. Whatever is left in ``outstanding`` was
        still in flight when the drain time ran out.

        Until ``refill_until`` (a monotonic time), the next batch is claimed as soon
        as no more than ``concurrency`` submitted domains wait to start. The checker
        then has work queued while this thread stores results, and never idles
        while the slowest domains of a batch finish.
        """
        from dnsscience.store import email as email_store

        pending: list[dict[str, Any]] = []
        stored = 0
        last_flush = time.monotonic()
        drain_deadline: float | None = None

        while outstanding:
            if (
                refill_until is not None
                and not stop.requested
                and time.monotonic() < refill_until
                and self.session.queued() <= self.settings.concurrency
                and not self._refill(connection, ids_by_name, outstanding)
            ):
                refill_until = None
            if stop.requested and drain_deadline is None:
                returned = self.session.stop_new()
                not_started.update(ids_by_name[name] for name in returned if name in ids_by_name)
                outstanding.difference_update(not_started)
                drain_deadline = time.monotonic() + DRAIN_SECONDS
                self.logger.info(
                    "Stop requested: %d domains not started, waiting up to %.0f s for %d in flight",
                    len(returned),
                    DRAIN_SECONDS,
                    len(outstanding),
                )
            if drain_deadline is not None and time.monotonic() > drain_deadline:
                break

            for text in self.session.poll(512, 0.2):
                result = json.loads(text)
                domain_id = ids_by_name.get(result["domain"])
                if domain_id is None:
                    self.logger.error("Result for unclaimed domain %r dropped", result["domain"])
                    continue
                outstanding.discard(domain_id)
                result["domain_id"] = domain_id
                pending.append(result)
                failures = [status for status in (result.get("lookups") or {}).values()
                            if status in TRANSIENT_STATUSES]
                if failures:
                    metrics.count_lookup_failures(failures)

            now = time.monotonic()
            if len(pending) >= FLUSH_RESULTS or (pending and now - last_flush >= FLUSH_SECONDS):
                email_store.store_results(connection, pending, self.instance)
                stored += len(pending)
                pending = []
                last_flush = now

        if pending:
            email_store.store_results(connection, pending, self.instance)
            stored += len(pending)
        return stored


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``dnsscience-emaild`` and ``daemons/emaild.py``."""
    return main_entry(
        prog="dnsscience-emaild",
        description="Check the email security of due domains and store it in PostgreSQL.",
        daemon_name=DAEMON_NAME,
        make_worker=EmailWorker,
        argv=argv,
    )


if __name__ == "__main__":
    raise SystemExit(main())
