"""Heartbeats: each daemon process reports its liveness and progress in one row.

A daemon creates one :class:`Heartbeat` and calls it from its batch loop::

    heartbeat = Heartbeat(
        "dnsscience_emaild",
        idle_seconds=30.0,
        attempt_retention_days=settings.attempt_retention_days,
    )
    heartbeat.start(connection)
    while running:
        done = worker.run_batch(connection, stop)
        if done:
            heartbeat.beat(connection, batch_size=done, batch_seconds=elapsed)
        else:
            heartbeat.idle(connection)
    heartbeat.stop(connection)

Each call upserts the process's row of ``daemon_heartbeats`` (primary key
daemon, host, pid). ``dnsscience health`` and the dashboard read the rows: an
instance is stale when it has not beaten for three times the longer of its idle
interval and its last batch, and stalled when it keeps beating without storing
anything. A heartbeat never stops a daemon: a failed write is logged and the
next call tries again. Once an hour a beat also deletes rows past their retention
(:func:`dnsscience.store.retention.apply_retention`).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from dnsscience.errors import DatabaseError
from dnsscience.store.values import to_param, to_params

__all__ = [
    "STATES",
    "Heartbeat",
    "HeartbeatRow",
    "delete_heartbeats_before",
    "read_heartbeats",
]

logger = logging.getLogger(__name__)

#: Values of ``daemon_heartbeats.state``.
STATES = ("starting", "working", "idle", "stopped")

#: Seconds of recent batches that ``rate_per_second`` averages over.
RATE_WINDOW_SECONDS = 300.0
#: Beats closer together than this are kept in memory, unless the state changes.
MIN_WRITE_INTERVAL_SECONDS = 5.0
#: Seconds between two runs of the retention deletes from one process.
RETENTION_INTERVAL_SECONDS = 3600.0

UPSERT_HEARTBEAT = """
INSERT INTO daemon_heartbeats (
    daemon, host, pid, version, started_at, last_beat_at, state, idle_seconds,
    last_batch_size, last_batch_seconds, last_progress_at, items_total,
    rate_per_second, errors)
VALUES ($1, $2, $3::integer, $4, to_timestamp($5::double precision), now(), $6,
    $7::double precision, $8::integer, $9::double precision,
    to_timestamp($10::double precision), $11::bigint, $12::double precision, $13::jsonb)
ON CONFLICT (daemon, host, pid) DO UPDATE SET
    version = EXCLUDED.version,
    last_beat_at = EXCLUDED.last_beat_at,
    state = EXCLUDED.state,
    idle_seconds = EXCLUDED.idle_seconds,
    last_batch_size = EXCLUDED.last_batch_size,
    last_batch_seconds = EXCLUDED.last_batch_seconds,
    last_progress_at = EXCLUDED.last_progress_at,
    items_total = EXCLUDED.items_total,
    rate_per_second = EXCLUDED.rate_per_second,
    errors = EXCLUDED.errors
"""

# Times come back as Unix seconds, so the session time zone does not matter.
SELECT_HEARTBEATS = """
SELECT daemon, host, pid, version,
    extract(epoch FROM started_at) AS started_at,
    extract(epoch FROM last_beat_at) AS last_beat_at,
    state, idle_seconds, last_batch_size, last_batch_seconds,
    extract(epoch FROM last_progress_at) AS last_progress_at,
    items_total, rate_per_second, errors::text AS errors,
    extract(epoch FROM now()) AS database_now
FROM daemon_heartbeats
WHERE last_beat_at >= now() - make_interval(secs => $1::double precision)
ORDER BY daemon, host, started_at, pid
"""

DELETE_HEARTBEATS_BEFORE = """
DELETE FROM daemon_heartbeats
WHERE last_beat_at < now() - make_interval(days => $1::integer)
"""


def _utc(seconds: str | None) -> datetime | None:
    if seconds is None:
        return None
    return datetime.fromtimestamp(float(seconds), tz=timezone.utc)


def _optional(convert: Callable[[str], Any], text: str | None) -> Any:
    return None if text is None else convert(text)


class Heartbeat:
    """The heartbeat of one daemon process: counts in memory, one row in the database.

    ``daemon`` is the name in logs and pid files (``dnsscience_emaild``), and
    ``idle_seconds`` the pause after a pass that found nothing due, from which
    health checks derive when a silent instance is stale. ``host``, ``pid`` and
    ``version`` default to this process. ``attempt_retention_days`` None keeps the
    check attempt tables out of the hourly retention pass.

    Not thread-safe: call it from the thread that runs the batch loop.
    """

    def __init__(
        self,
        daemon: str,
        idle_seconds: float,
        *,
        version: str | None = None,
        host: str | None = None,
        pid: int | None = None,
        attempt_retention_days: int | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not daemon:
            raise ValueError("daemon name is empty: pass the name used in logs and pid files")
        if idle_seconds <= 0:
            raise ValueError(f"idle_seconds {idle_seconds} must be positive")
        if version is None:
            from dnsscience import __version__ as version
        self.daemon = daemon
        self.idle_seconds = float(idle_seconds)
        self.version = version
        self.host = host or socket.gethostname()
        self.pid = os.getpid() if pid is None else pid
        self._clock = clock
        self.started_at = clock()
        self.state = "starting"
        self.items_total = 0
        self.errors: dict[str, int] = {}
        self.last_batch_size: int | None = None
        self.last_batch_seconds: float | None = None
        self.last_progress_at: float | None = None
        self._recent: deque[tuple[float, int]] = deque()
        self._last_write: float | None = None
        self._written_state: str | None = None
        self._failed_writes = 0
        self.attempt_retention_days = attempt_retention_days
        self._last_retention: float | None = None

    def start(self, connection: Any) -> bool:
        """Write the row in state ``starting``; return whether the write succeeded."""
        return self._write(connection, "starting", force=True)

    def beat(
        self,
        connection: Any,
        batch_size: int,
        batch_seconds: float,
        errors: Mapping[str, int] | None = None,
    ) -> bool:
        """Record a batch that ran: ``batch_size`` items stored in ``batch_seconds``.

        ``errors`` counts this batch's failures by kind (for example
        ``{"timeout": 3}``) and is added to the process totals. A batch that stored
        nothing still counts as work: call :meth:`idle` when nothing was due.
        Returns whether the row was written now. A beat within 5 seconds of the last
        write stays in memory until the next write, unless the state changed.
        """
        if batch_size < 0 or batch_seconds < 0:
            raise ValueError(
                f"batch_size {batch_size} and batch_seconds {batch_seconds} must not be negative"
            )
        now = self._clock()
        self.last_batch_size = int(batch_size)
        self.last_batch_seconds = float(batch_seconds)
        self.items_total += int(batch_size)
        if batch_size:
            self.last_progress_at = now
            self._recent.append((now, int(batch_size)))
        self.count_errors(errors or {})
        return self._write(connection, "working")

    def idle(self, connection: Any, errors: Mapping[str, int] | None = None) -> bool:
        """Record a pass that found nothing due; return whether the row was written."""
        self.count_errors(errors or {})
        return self._write(connection, "idle")

    def _apply_retention(self, connection: Any, now: float) -> None:
        if (
            self._last_retention is not None
            and now - self._last_retention < RETENTION_INTERVAL_SECONDS
        ):
            return
        self._last_retention = now
        from dnsscience.store.retention import apply_retention

        try:
            apply_retention(connection, attempt_days=self.attempt_retention_days)
        except DatabaseError as error:
            logger.warning("Retention of %s failed: %s; retrying in an hour", self.daemon, error)

    def stop(self, connection: Any) -> bool:
        """Mark the instance stopped, so health checks stop expecting beats from it."""
        return self._write(connection, "stopped", force=True)

    def count_errors(self, errors: Mapping[str, int]) -> None:
        """Add error counts by kind; they are written with the next beat."""
        for kind, count in errors.items():
            if count < 0:
                raise ValueError(f"error count {count} for {kind!r} must not be negative")
            if count:
                self.errors[str(kind)] = self.errors.get(str(kind), 0) + int(count)

    def rate_per_second(self) -> float:
        """Return items stored per second over the last 5 minutes (or since the start)."""
        now = self._clock()
        while self._recent and self._recent[0][0] < now - RATE_WINDOW_SECONDS:
            self._recent.popleft()
        # Right after the start the elapsed time is near zero, so the span is at
        # least the last batch's duration and at least 1 second.
        span = max(
            min(RATE_WINDOW_SECONDS, now - self.started_at),
            self.last_batch_seconds or 0.0,
            1.0,
        )
        return sum(size for _, size in self._recent) / span

    def _write(self, connection: Any, state: str, force: bool = False) -> bool:
        now = self._clock()
        self.state = state
        recently_written = (
            self._last_write is not None and now - self._last_write < MIN_WRITE_INTERVAL_SECONDS
        )
        if not force and state == self._written_state and recently_written:
            return False
        params = [
            self.daemon,
            self.host,
            self.pid,
            self.version,
            self.started_at,
            state,
            self.idle_seconds,
            self.last_batch_size,
            self.last_batch_seconds,
            self.last_progress_at,
            self.items_total,
            self.rate_per_second(),
            dict(sorted(self.errors.items())),
        ]
        try:
            connection.execute(UPSERT_HEARTBEAT, to_params(params))
        except DatabaseError as error:
            self._failed_writes += 1
            # Log the first failure of a run of failures, then every 100th.
            if self._failed_writes % 100 == 1:
                logger.warning(
                    "Heartbeat of %s (%s, pid %d) could not be written (%d failures in a row): %s",
                    self.daemon,
                    self.host,
                    self.pid,
                    self._failed_writes,
                    error,
                )
            return False
        if self._failed_writes:
            logger.info(
                "Heartbeat of %s written again after %d failures", self.daemon, self._failed_writes
            )
            self._failed_writes = 0
        self._last_write = now
        self._written_state = state
        if state in ("working", "idle"):
            self._apply_retention(connection, now)
        return True


@dataclass(frozen=True)
class HeartbeatRow:
    """One row of ``daemon_heartbeats``, times in UTC."""

    daemon: str
    host: str
    pid: int
    version: str
    started_at: datetime
    last_beat_at: datetime
    state: str
    idle_seconds: float
    last_batch_size: int | None
    last_batch_seconds: float | None
    last_progress_at: datetime | None
    items_total: int
    rate_per_second: float | None
    errors: dict[str, int]
    #: The database server's clock when the row was read.
    read_at: datetime


def read_heartbeats(connection: Any, seen_within_seconds: float) -> list[HeartbeatRow]:
    """Return the instances that beat within the last ``seen_within_seconds``.

    Ordered by daemon, host and start time.
    """
    _columns, rows, _count = connection.execute(
        SELECT_HEARTBEATS, [to_param(float(seen_within_seconds))]
    )
    result = []
    for row in rows:
        (
            daemon,
            host,
            pid,
            version,
            started_at,
            last_beat_at,
            state,
            idle_seconds,
            batch_size,
            batch_seconds,
            progress_at,
            items_total,
            rate,
            errors,
            database_now,
        ) = row
        result.append(
            HeartbeatRow(
                daemon=daemon,
                host=host,
                pid=int(pid),
                version=version,
                started_at=_utc(started_at),
                last_beat_at=_utc(last_beat_at),
                state=state,
                idle_seconds=float(idle_seconds),
                last_batch_size=_optional(int, batch_size),
                last_batch_seconds=_optional(float, batch_seconds),
                last_progress_at=_utc(progress_at),
                items_total=int(items_total),
                rate_per_second=_optional(float, rate),
                errors={str(kind): int(count) for kind, count in json.loads(errors).items()},
                read_at=_utc(database_now),
            )
        )
    return result


def delete_heartbeats_before(connection: Any, days: int) -> int:
    """Delete the rows of instances that have not beaten for ``days`` days; return the count."""
    if days < 1:
        raise ValueError(f"retention of {days} days is invalid: keep heartbeats at least 1 day")
    _columns, _rows, deleted = connection.execute(DELETE_HEARTBEATS_BEFORE, [to_param(int(days))])
    return deleted
