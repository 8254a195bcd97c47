"""Tests of the retention of heartbeat, attempt and history rows (dnsscience.store.retention)."""

from __future__ import annotations

import pytest

from dnsscience.errors import SchemaError
from dnsscience.store.heartbeat import Heartbeat, read_heartbeats
from dnsscience.store.retention import apply_retention, retention_days


def count(connection, table: str) -> int:
    _columns, rows, _count = connection.execute(f"SELECT count(*) FROM {table}")
    return int(rows[0][0])


def populate(connection) -> None:
    """Insert one old and one recent row into each table under retention."""
    connection.transaction(
        [
            ("INSERT INTO domains (domain_name) VALUES ('example.com')", []),
            (
                "INSERT INTO email_check_attempts (domain_id, instance, finished_at, outcome, "
                "complete) SELECT id, 'h:1', (now() AT TIME ZONE 'UTC') - make_interval(days => "
                "$1::int), 'complete', TRUE FROM domains",
                ["40"],
            ),
            (
                "INSERT INTO email_check_attempts (domain_id, instance, finished_at, outcome, "
                "complete) SELECT id, 'h:1', (now() AT TIME ZONE 'UTC') - make_interval(days => "
                "$1::int), 'complete', TRUE FROM domains",
                ["2"],
            ),
            (
                "INSERT INTO tls_scan_attempts (domain_name, port, attempted_at, status) VALUES "
                "('example.com', 443, now() - interval '40 days', 'ok'), "
                "('example.com', 443, now() - interval '2 days', 'ok')",
                [],
            ),
            (
                "INSERT INTO certificate_changes (domain_name, port, detected_at, "
                "sha256_fingerprint) VALUES ('example.com', 443, now() - interval '1900 days', "
                "'aa'), ('example.com', 443, now() - interval '100 days', 'bb')",
                [],
            ),
        ]
    )
    Heartbeat("d", idle_seconds=30, pid=1).start(connection)
    Heartbeat("d", idle_seconds=30, pid=2).start(connection)
    connection.execute(
        "UPDATE daemon_heartbeats SET last_beat_at = now() - interval '8 days' WHERE pid = 2"
    )


def test_default_retention(migrated_database, pg_connect):
    assert retention_days(pg_connect(migrated_database)) == {
        "daemon_heartbeats": 7,
        "certificate_changes": 1825,
    }


def test_retention_deletes_old_rows(migrated_database, pg_connect):
    connection = pg_connect(migrated_database)
    populate(connection)

    deleted = apply_retention(connection, attempt_days=30)

    assert deleted == {
        "daemon_heartbeats": 1,
        "certificate_changes": 1,
        "email_check_attempts": 1,
        "tls_scan_attempts": 1,
    }
    assert count(connection, "email_check_attempts") == 1
    assert count(connection, "tls_scan_attempts") == 1
    assert count(connection, "certificate_changes") == 1
    assert [beat.pid for beat in read_heartbeats(connection, 30 * 86400)] == [1]


def test_retention_without_attempt_days(migrated_database, pg_connect):
    connection = pg_connect(migrated_database)
    populate(connection)

    deleted = apply_retention(connection)

    assert set(deleted) == {"daemon_heartbeats", "certificate_changes"}
    assert count(connection, "email_check_attempts") == 2
    assert count(connection, "tls_scan_attempts") == 2


def test_retention_follows_table(migrated_database, pg_connect):
    connection = pg_connect(migrated_database)
    populate(connection)
    connection.execute(
        "UPDATE dnsscience_retention SET keep_days = 50 WHERE table_name = 'certificate_changes'"
    )

    deleted = apply_retention(connection)

    assert deleted["certificate_changes"] == 2
    assert count(connection, "certificate_changes") == 0


def test_retention_rejects_bad_arguments(migrated_database, pg_connect):
    connection = pg_connect(migrated_database)
    with pytest.raises(ValueError, match="attempt retention of 0 days"):
        apply_retention(connection, attempt_days=0)
    with pytest.raises(ValueError, match="limit 0"):
        apply_retention(connection, limit=0)


def test_retention_needs_migration(empty_database, pg_connect):
    with pytest.raises(SchemaError, match="dnsscience_retention"):
        apply_retention(pg_connect(empty_database))


def test_heartbeat_applies_retention_hourly(migrated_database, pg_connect):
    connection = pg_connect(migrated_database)
    populate(connection)
    clock_value = [1_000_000.0]
    heartbeat = Heartbeat(
        "d", idle_seconds=30, pid=3, attempt_retention_days=30, clock=lambda: clock_value[0]
    )

    heartbeat.idle(connection)
    after_first = count(connection, "tls_scan_attempts")
    connection.execute(
        "INSERT INTO tls_scan_attempts (domain_name, port, attempted_at, status) "
        "VALUES ('example.com', 443, now() - interval '40 days', 'ok')"
    )
    clock_value[0] += 600
    heartbeat.beat(connection, batch_size=1, batch_seconds=1)
    after_ten_minutes = count(connection, "tls_scan_attempts")
    clock_value[0] += 3600
    heartbeat.beat(connection, batch_size=1, batch_seconds=1)

    assert after_first == 1
    assert after_ten_minutes == 2
    assert count(connection, "tls_scan_attempts") == 1
    assert sorted(beat.pid for beat in read_heartbeats(connection, 30 * 86400)) == [1, 3]
