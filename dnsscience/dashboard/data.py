"""The figures the dashboard shows, read from the database in one pass.

:func:`collect` runs every query of the page and returns a :class:`DashboardData`.
A section whose table or column is missing (a database not yet migrated, or a
daemon that never ran) is left empty, and the reason goes to ``notes``, so one
missing table never blanks the whole page.

Legacy ``timestamp`` columns contain UTC wall-clock times. The queries compare
them as Unix seconds (``extract(epoch FROM ...)``), which reads a ``timestamp``
as UTC and a ``timestamptz`` as its instant, so the session time zone never
shifts a figure.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from dnsscience.errors import SchemaError
from dnsscience.health import HealthReport, check_health

__all__ = [
    "COVERAGE_COLUMNS",
    "EXPIRY_BUCKETS",
    "AlertRow",
    "DashboardData",
    "RateSeries",
    "collect",
]

logger = logging.getLogger(__name__)

#: Boolean columns of email_security_records shown as coverage, with their labels.
#: Columns that the table lacks are skipped.
COVERAGE_COLUMNS = (
    ("has_mx", "MX"),
    ("has_spf", "SPF"),
    ("spf_valid", "SPF valid"),
    ("has_dmarc", "DMARC"),
    ("has_dkim", "DKIM"),
    ("has_mta_sts", "MTA-STS"),
    ("has_tls_rpt", "TLS-RPT"),
    ("has_bimi", "BIMI"),
    ("has_dane", "DANE"),
)

#: Certificate expiry buckets: label and the upper bound in days (exclusive).
EXPIRY_BUCKETS = (
    ("expired", 0),
    ("< 7 days", 7),
    ("7-30 days", 30),
    ("30-90 days", 90),
    ("90+ days", None),
)

_SELECT_COLUMNS = """
SELECT table_name, column_name
FROM information_schema.columns
WHERE table_schema = current_schema() AND table_name = ANY($1::text[])
"""

# Items stored per bucket of $2 seconds over the last $1 seconds, as
# (bucket start in Unix seconds, count).
_EMAIL_RATE = """
SELECT floor(extract(epoch FROM last_checked) / $2::double precision)
           * $2::double precision AS bucket,
       count(*)
FROM email_security_records
WHERE extract(epoch FROM last_checked) >= extract(epoch FROM now()) - $1::double precision
GROUP BY 1
ORDER BY 1
"""

_TLS_ATTEMPT_RATE = """
SELECT floor(extract(epoch FROM attempted_at) / $2::double precision)
           * $2::double precision AS bucket,
       count(*)
FROM tls_scan_attempts
WHERE attempted_at >= now() - make_interval(secs => $1::double precision)
GROUP BY 1
ORDER BY 1
"""

_TLS_CERTIFICATE_RATE = """
SELECT floor(extract(epoch FROM last_checked) / $2::double precision)
           * $2::double precision AS bucket,
       count(*)
FROM ssl_certificates
WHERE extract(epoch FROM last_checked) >= extract(epoch FROM now()) - $1::double precision
GROUP BY 1
ORDER BY 1
"""

_EXPIRY = """
SELECT count(*) FILTER (WHERE expires_at IS NULL) AS unknown,
       count(*) FILTER (WHERE days < 0) AS expired,
       count(*) FILTER (WHERE days >= 0 AND days < 7) AS within_7,
       count(*) FILTER (WHERE days >= 7 AND days < 30) AS within_30,
       count(*) FILTER (WHERE days >= 30 AND days < 90) AS within_90,
       count(*) FILTER (WHERE days >= 90) AS later
FROM (
    SELECT expires_at,
           (extract(epoch FROM expires_at) - extract(epoch FROM now())) / 86400.0 AS days
    FROM ssl_certificates
) AS certificates
"""

_OPEN_ALERTS = """
SELECT domain_name, port, kind, severity, message,
       extract(epoch FROM raised_at) AS raised_at,
       count(*) OVER () AS open_total
FROM tls_alerts
WHERE resolved_at IS NULL
ORDER BY CASE severity WHEN 'high' THEN 0 WHEN 'medium' THEN 1 WHEN 'low' THEN 2 ELSE 3 END,
         raised_at DESC, domain_name, port
LIMIT $1::integer
"""

_DATABASE_NOW = "SELECT extract(epoch FROM now())"


@dataclass(frozen=True)
class RateSeries:
    """Items per time bucket for one kind of work, oldest bucket first."""

    label: str
    bucket_seconds: int
    #: (bucket start, count); buckets with no item are present with count 0.
    points: list[tuple[datetime, int]]

    @property
    def total(self) -> int:
        """Items in the whole series."""
        return sum(count for _, count in self.points)


@dataclass(frozen=True)
class AlertRow:
    """One open TLS alert."""

    domain_name: str
    port: int
    kind: str
    severity: str
    message: str
    raised_at: datetime


@dataclass
class DashboardData:
    """Everything one page shows. Empty sections have a reason in ``notes``."""

    generated_at: datetime
    hours: int
    health: HealthReport | None = None
    rates: list[RateSeries] = field(default_factory=list)
    #: Rows in email_security_records.
    email_total: int = 0
    #: (label, rows with the column true), in COVERAGE_COLUMNS order.
    coverage: list[tuple[str, int]] = field(default_factory=list)
    #: (label, certificates), in EXPIRY_BUCKETS order, then "no expiry date".
    expiry: list[tuple[str, int]] = field(default_factory=list)
    alerts: list[AlertRow] = field(default_factory=list)
    open_alerts_total: int = 0
    notes: list[str] = field(default_factory=list)


def _utc(seconds: str | float) -> datetime:
    return datetime.fromtimestamp(float(seconds), tz=timezone.utc)


def _table_columns(connection: Any, tables: list[str]) -> dict[str, set[str]]:
    _names, rows, _count = connection.execute(_SELECT_COLUMNS, ["{" + ",".join(tables) + "}"])
    columns: dict[str, set[str]] = {table: set() for table in tables}
    for table, column in rows:
        columns[table].add(column)
    return columns


def _rate_series(
    connection: Any,
    label: str,
    statement: str,
    now: float,
    hours: int,
    bucket_seconds: int,
) -> RateSeries:
    window = hours * 3600
    _names, rows, _count = connection.execute(statement, [str(window), str(bucket_seconds)])
    counts = {int(float(bucket)): int(count) for bucket, count in rows}
    first = int(now - window) // bucket_seconds * bucket_seconds
    last = int(now) // bucket_seconds * bucket_seconds
    points = [
        (_utc(start), counts.get(start, 0)) for start in range(first, last + 1, bucket_seconds)
    ]
    return RateSeries(label, bucket_seconds, points)


def _coverage_statement(columns: list[str]) -> str:
    # The column names come only from COVERAGE_COLUMNS, never from input, and
    # are filtered by what information_schema lists, so composing them is safe.
    counts = "".join(f", count(*) FILTER (WHERE {column})" for column in columns)
    return f"SELECT count(*){counts} FROM email_security_records"


def _collect_health(connection: Any, data: DashboardData) -> None:
    try:
        data.health = check_health(connection, seen_within_seconds=data.hours * 3600)
    except SchemaError as error:
        data.notes.append(f"Instances: not available ({error}); run 'dnsscience db migrate'")


def _collect_rates(
    connection: Any, data: DashboardData, columns: dict[str, set[str]], now: float
) -> None:
    bucket_seconds = 600 if data.hours <= 12 else 3600
    sources = []
    if columns["email_security_records"]:
        sources.append(("Email records stored", _EMAIL_RATE))
    if columns["tls_scan_attempts"]:
        sources.append(("TLS probes", _TLS_ATTEMPT_RATE))
    elif columns["ssl_certificates"]:
        sources.append(("Certificates stored", _TLS_CERTIFICATE_RATE))
    if not sources:
        data.notes.append("Collection rates: no result table found")
    for label, statement in sources:
        data.rates.append(
            _rate_series(connection, label, statement, now, data.hours, bucket_seconds)
        )


def _collect_coverage(connection: Any, data: DashboardData, columns: dict[str, set[str]]) -> None:
    present = [
        (column, label)
        for column, label in COVERAGE_COLUMNS
        if column in columns["email_security_records"]
    ]
    if not present:
        data.notes.append("Email coverage: table email_security_records not found")
        return
    statement = _coverage_statement([column for column, _ in present])
    _names, rows, _count = connection.execute(statement)
    values = [int(value) for value in rows[0]]
    data.email_total = values[0]
    data.coverage = [(label, count) for (_, label), count in zip(present, values[1:], strict=True)]


def _collect_expiry(connection: Any, data: DashboardData, columns: dict[str, set[str]]) -> None:
    if "expires_at" not in columns["ssl_certificates"]:
        data.notes.append("Certificate expiry: table ssl_certificates not found")
        return
    _names, rows, _count = connection.execute(_EXPIRY)
    unknown, *counts = (int(value) for value in rows[0])
    data.expiry = [(label, count) for (label, _), count in zip(EXPIRY_BUCKETS, counts, strict=True)]
    if unknown:
        data.expiry.append(("no expiry date", unknown))


def _collect_alerts(
    connection: Any, data: DashboardData, columns: dict[str, set[str]], limit: int
) -> None:
    if "resolved_at" not in columns["tls_alerts"]:
        data.notes.append("Open alerts: table tls_alerts not found")
        return
    _names, rows, _count = connection.execute(_OPEN_ALERTS, [str(limit)])
    for domain_name, port, kind, severity, message, raised_at, total in rows:
        data.open_alerts_total = int(total)
        data.alerts.append(
            AlertRow(domain_name, int(port), kind, severity, message, _utc(raised_at))
        )


def collect(connection: Any, hours: int = 24, alert_limit: int = 50) -> DashboardData:
    """Read every section of the dashboard; ``hours`` is the span of the rate chart.

    Raises DatabaseError when the database cannot be reached; a missing table or
    column only empties its section.
    """
    if not 1 <= hours <= 24 * 14:
        raise ValueError(f"hours {hours} is invalid: expected 1 to 336 (14 days)")
    _names, rows, _count = connection.execute(_DATABASE_NOW)
    now = float(rows[0][0])
    data = DashboardData(generated_at=_utc(now), hours=hours)
    columns = _table_columns(
        connection,
        ["email_security_records", "ssl_certificates", "tls_scan_attempts", "tls_alerts"],
    )
    _collect_health(connection, data)
    for section in (
        lambda: _collect_rates(connection, data, columns, now),
        lambda: _collect_coverage(connection, data, columns),
        lambda: _collect_expiry(connection, data, columns),
        lambda: _collect_alerts(connection, data, columns, alert_limit),
    ):
        try:
            section()
        except SchemaError as error:
            # A table changed between the column lookup and the query.
            logger.warning("Dashboard section failed: %s", error)
            data.notes.append(f"A section is incomplete: {error}")
    return data
