"""Retention: delete old heartbeat, check attempt and certificate history rows.

How long rows are kept:

- ``daemon_heartbeats`` and ``certificate_changes``: ``keep_days`` in the
  ``dnsscience_retention`` table (migration 004; 7 and 1825 days by default).
- ``email_check_attempts`` and ``tls_scan_attempts``: the ``attempt_days``
  argument, which daemons take from ``DNSSCIENCE_ATTEMPT_RETENTION_DAYS``.

:class:`~dnsscience.store.heartbeat.Heartbeat` calls :func:`apply_retention`
once an hour, so every running daemon keeps the tables trimmed. Several
instances running it at once only repeat deletes that find nothing.
"""

from __future__ import annotations

import logging
from typing import Any

from dnsscience.errors import SchemaError
from dnsscience.store.values import to_param

__all__ = ["apply_retention", "retention_days"]

logger = logging.getLogger(__name__)

_SELECT_RETENTION = "SELECT table_name, keep_days FROM dnsscience_retention"

_DELETE_OLD_HEARTBEATS = """
DELETE FROM daemon_heartbeats
WHERE last_beat_at < now() - make_interval(days => $1::integer)
"""

# Deletes at most $2 rows per call, so one pass never holds long locks.
_DELETE_OLD_CERTIFICATE_CHANGES = """
DELETE FROM certificate_changes
WHERE id IN (
    SELECT id FROM certificate_changes
    WHERE detected_at < now() - make_interval(days => $1::integer)
    LIMIT $2::integer
)
"""


def retention_days(connection: Any) -> dict[str, int]:
    """Return ``{table name: days kept}`` from the ``dnsscience_retention`` table."""
    _columns, rows, _count = connection.execute(_SELECT_RETENTION)
    return {table: int(days) for table, days in rows}


def apply_retention(
    connection: Any, attempt_days: int | None = None, limit: int = 10_000
) -> dict[str, int]:
    """Delete rows past their retention; return ``{table name: rows deleted}``.

    ``attempt_days`` None leaves the attempt tables alone. A table that does not
    exist (its migration has not run) is skipped. Each table loses at most
    ``limit`` rows per call, except ``daemon_heartbeats``, which stays small.
    """
    if attempt_days is not None and attempt_days < 1:
        raise ValueError(f"attempt retention of {attempt_days} days is invalid: expected >= 1")
    if limit < 1:
        raise ValueError(f"limit {limit} is invalid: expected >= 1")

    from dnsscience.store import email, tls

    days = retention_days(connection)
    tasks = []
    if "daemon_heartbeats" in days:
        tasks.append(
            (
                "daemon_heartbeats",
                lambda: connection.execute(
                    _DELETE_OLD_HEARTBEATS, [to_param(days["daemon_heartbeats"])]
                )[2],
            )
        )
    if "certificate_changes" in days:
        tasks.append(
            (
                "certificate_changes",
                lambda: connection.execute(
                    _DELETE_OLD_CERTIFICATE_CHANGES,
                    [to_param(days["certificate_changes"]), to_param(limit)],
                )[2],
            )
        )
    if attempt_days is not None:
        tasks.append(
            ("email_check_attempts", lambda: email.prune_attempts(connection, attempt_days))
        )
        tasks.append(
            (
                "tls_scan_attempts",
                lambda: tls.delete_old_attempts(connection, attempt_days, limit),
            )
        )

    deleted: dict[str, int] = {}
    for table, task in tasks:
        try:
            deleted[table] = task()
        except SchemaError as error:
            logger.debug("Retention skipped %s: %s", table, error)
    if any(deleted.values()):
        logger.info(
            "Retention deleted %s",
            ", ".join(f"{count} rows of {table}" for table, count in deleted.items() if count),
        )
    return deleted
