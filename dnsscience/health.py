"""Health of the daemon instances, judged from their rows in ``daemon_heartbeats``.

Each instance gets one status:

- ``ok``: it beat recently and, when working, stored something recently.
- ``stale``: no beat for ``stale_factor`` (3) times the longer of its idle
  interval and its last batch: the process hangs, died, or cannot reach the
  database.
- ``stalled``: it keeps beating as working but stored nothing for
  ``progress_seconds`` (30 minutes): every item fails or is released.
- ``stopped``: it exited cleanly. Healthy.
- ``replaced``: stale, but a later instance of the same daemon on the same host
  is alive, as after a crash and a restart by systemd. Healthy.

Ages are measured against the database server's clock, so a skewed clock on the
machine running the check does not make instances look stale.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from dnsscience.store.heartbeat import HeartbeatRow, read_heartbeats

__all__ = [
    "HEALTHY_STATUSES",
    "HealthReport",
    "InstanceHealth",
    "check_health",
    "evaluate",
    "format_duration",
    "format_report",
    "report_json",
]

#: Statuses that do not make a report unhealthy.
HEALTHY_STATUSES = ("ok", "stopped", "replaced")

DEFAULT_STALE_FACTOR = 3.0
DEFAULT_PROGRESS_SECONDS = 1800.0
#: Instances whose last beat is older than this are left out of a report.
DEFAULT_SEEN_WITHIN_SECONDS = 24 * 3600.0


def format_duration(seconds: float) -> str:
    """Format a duration as ``45s``, ``12m 5s``, ``3h 2m`` or ``2d 4h`` (zero parts omitted)."""
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m {seconds}s" if seconds else f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h {minutes}m" if minutes else f"{hours}h"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours}h" if hours else f"{days}d"


@dataclass(frozen=True)
class InstanceHealth:
    """One daemon instance, its status and the reason for it."""

    heartbeat: HeartbeatRow
    status: str
    detail: str

    @property
    def healthy(self) -> bool:
        """Whether the status is one of :data:`HEALTHY_STATUSES`."""
        return self.status in HEALTHY_STATUSES

    @property
    def beat_age_seconds(self) -> float:
        """Seconds since the last beat, by the database clock at read time."""
        return (self.heartbeat.read_at - self.heartbeat.last_beat_at).total_seconds()

    def to_dict(self) -> dict[str, Any]:
        """Return the instance as JSON-ready values (times in ISO 8601, UTC)."""
        values = asdict(self.heartbeat)
        for key, value in values.items():
            if isinstance(value, datetime):
                values[key] = value.isoformat()
        values.pop("read_at")
        values["status"] = self.status
        values["detail"] = self.detail
        values["healthy"] = self.healthy
        return values


@dataclass(frozen=True)
class HealthReport:
    """The health of every instance seen, plus daemons expected but not seen."""

    instances: list[InstanceHealth]
    #: Expected daemon names that have no live instance.
    missing: list[str]

    @property
    def healthy(self) -> bool:
        """True when at least one instance was seen, all are healthy and every
        expected daemon has a live instance."""
        return (
            bool(self.instances)
            and not self.missing
            and all(instance.healthy for instance in self.instances)
        )

    @property
    def problems(self) -> list[str]:
        """One line per unhealthy instance or missing daemon."""
        lines = [f"{name}: no live instance" for name in self.missing]
        if not self.instances and not self.missing:
            lines.append("no daemon instance has beaten in the time window")
        for instance in self.instances:
            if not instance.healthy:
                beat = instance.heartbeat
                lines.append(
                    f"{beat.daemon} on {beat.host} (pid {beat.pid}) is {instance.status}: "
                    f"{instance.detail}"
                )
        return lines

    def to_dict(self) -> dict[str, Any]:
        """Return the report as JSON-ready values."""
        return {
            "healthy": self.healthy,
            "missing": list(self.missing),
            "instances": [instance.to_dict() for instance in self.instances],
        }


def _stale_limit(beat: HeartbeatRow, stale_factor: float) -> float:
    return stale_factor * max(beat.idle_seconds, beat.last_batch_seconds or 0.0)


def _judge(beat: HeartbeatRow, stale_factor: float, progress_seconds: float) -> tuple[str, str]:
    age = (beat.read_at - beat.last_beat_at).total_seconds()
    if beat.state == "stopped":
        return "stopped", f"stopped {format_duration(age)} ago"

    limit = _stale_limit(beat, stale_factor)
    if age > limit:
        return "stale", f"no beat for {format_duration(age)} (limit {format_duration(limit)})"

    if beat.state == "working":
        since = beat.last_progress_at or beat.started_at
        quiet = (beat.read_at - since).total_seconds()
        if quiet > progress_seconds:
            what = "since it started" if beat.last_progress_at is None else "for"
            detail = f"stored nothing {what} {format_duration(quiet)} while working"
            if beat.errors:
                detail += "; errors " + ", ".join(
                    f"{kind} {count}" for kind, count in sorted(beat.errors.items())
                )
            return "stalled", detail

    if beat.state == "working" and beat.rate_per_second is not None:
        return "ok", f"working, {beat.rate_per_second:.1f} items/s"
    return "ok", beat.state


def evaluate(
    heartbeats: Iterable[HeartbeatRow],
    expected: Sequence[str] = (),
    stale_factor: float = DEFAULT_STALE_FACTOR,
    progress_seconds: float = DEFAULT_PROGRESS_SECONDS,
) -> HealthReport:
    """Judge each heartbeat row; ``expected`` daemons without a live instance are missing."""
    if stale_factor <= 1:
        raise ValueError(f"stale factor {stale_factor} must be greater than 1")
    if progress_seconds <= 0:
        raise ValueError(f"progress window {progress_seconds} s must be positive")

    judged = [(beat, *_judge(beat, stale_factor, progress_seconds)) for beat in heartbeats]

    # A stale instance is replaced when a later one of the same daemon on the same
    # host is alive.
    alive_starts: dict[tuple[str, str], list[datetime]] = {}
    for beat, status, _detail in judged:
        if status in ("ok", "stalled"):
            alive_starts.setdefault((beat.daemon, beat.host), []).append(beat.started_at)

    instances = []
    for beat, status, detail in judged:
        if status == "stale":
            later = [
                started
                for started in alive_starts.get((beat.daemon, beat.host), [])
                if started > beat.started_at
            ]
            if later:
                status = "replaced"
                detail += "; a later instance on this host is alive"
        instances.append(InstanceHealth(beat, status, detail))

    alive_daemons = {beat.daemon for beat, status, _ in judged if status in ("ok", "stalled")}
    missing = [name for name in expected if name not in alive_daemons]
    return HealthReport(instances=instances, missing=missing)


def check_health(
    connection: Any,
    expected: Sequence[str] = (),
    seen_within_seconds: float = DEFAULT_SEEN_WITHIN_SECONDS,
    stale_factor: float = DEFAULT_STALE_FACTOR,
    progress_seconds: float = DEFAULT_PROGRESS_SECONDS,
) -> HealthReport:
    """Read the heartbeats of the last ``seen_within_seconds`` and judge them."""
    heartbeats = read_heartbeats(connection, seen_within_seconds)
    return evaluate(heartbeats, expected, stale_factor, progress_seconds)


def _format_errors(errors: dict[str, int]) -> str:
    if not errors:
        return "-"
    return ",".join(f"{kind}={count}" for kind, count in sorted(errors.items()))


def format_report(report: HealthReport) -> str:
    """Return the report as a text table followed by one line per problem."""
    header = (
        "DAEMON",
        "HOST",
        "PID",
        "VERSION",
        "STATE",
        "STATUS",
        "LAST BEAT",
        "RATE/S",
        "ITEMS",
        "ERRORS",
        "DETAIL",
    )
    rows = [header]
    for instance in report.instances:
        beat = instance.heartbeat
        rate = "-" if beat.rate_per_second is None else f"{beat.rate_per_second:.1f}"
        rows.append(
            (
                beat.daemon,
                beat.host,
                str(beat.pid),
                beat.version,
                beat.state,
                instance.status.upper() if not instance.healthy else instance.status,
                format_duration(instance.beat_age_seconds) + " ago",
                rate,
                str(beat.items_total),
                _format_errors(beat.errors),
                instance.detail,
            )
        )
    widths = [max(len(row[column]) for row in rows) for column in range(len(header) - 1)]
    lines = []
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        lines.append("  ".join(cells + [row[-1]]).rstrip())
    if report.problems:
        lines.append("")
        lines.append("Unhealthy:")
        lines.extend(f"  {problem}" for problem in report.problems)
    else:
        lines.append("")
        lines.append("All instances healthy.")
    return "\n".join(lines)


def report_json(report: HealthReport) -> str:
    """Return the report as one JSON document."""
    return json.dumps(report.to_dict(), indent=2, sort_keys=True)
