"""Tests of the ssl_scanner and ssl_monitord daemons, run as a user runs them.

Each test starts a daemon as a subprocess (``python -m dnsscience.daemons...``)
against a migrated PostgreSQL database whose domains are TLS test bed names,
resolved through the bed's own DNS zone, and then checks the tables.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

BED_DOMAINS = [
    "valid.tls.test",
    "expiring5.tls.test",
    "expired.tls.test",
    "selfsigned.tls.test",
    "wronghost.tls.test",
    "sanonly.tls.test",
    "refused.tls.test",
    "missing.tls.test",
    "silent.tls.test",
]


@pytest.fixture
def daemon_env(tls_testbed, tls_nameserver, tmp_path):
    """Environment for a daemon: bed port, bed CA, bed nameserver, small batches."""

    def make(dsn: str, **overrides: str) -> dict[str, str]:
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("DB_", "DNSSCIENCE_", "SSL_", "PG"))
        }
        env.update(
            {
                "DATABASE_URL": dsn,
                "DNSSCIENCE_NAMESERVERS": tls_nameserver,
                "DNSSCIENCE_TLS_PORTS": str(tls_testbed.port),
                "DNSSCIENCE_CA_FILE": str(tls_testbed.ca_file),
                "DNSSCIENCE_BATCH_SIZE": "100",
                "SSL_SCANNER_WORKERS": "50",
                "HOME": str(tmp_path),
            }
        )
        env.update(overrides)
        return env

    return make


def insert_domains(connection, names) -> None:
    for name in names:
        connection.execute("INSERT INTO domains (domain_name) VALUES ($1)", [name])


def command(module: str) -> list[str]:
    """Return the installed console script of a daemon module, as a user runs it."""
    script = {
        "dnsscience.daemons.ssl_scanner": "dnsscience-ssl-scanner",
        "dnsscience.daemons.ssl_monitord": "dnsscience-ssl-monitord",
    }[module]
    return [str(Path(sys.executable).parent / script)]


def run_once(module: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*command(module), "--once"],
        env=env,
        cwd=env["HOME"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def rows(connection, sql: str, params=None):
    return connection.execute(sql, params or [])[1]


def test_scanner_once_stores_bed(migrated_database, pg_connect, daemon_env, tls_testbed):
    connection = pg_connect(migrated_database)
    insert_domains(connection, BED_DOMAINS)
    completed = run_once("dnsscience.daemons.ssl_scanner", daemon_env(migrated_database))
    assert completed.returncode == 0, completed.stdout + completed.stderr

    certificates = dict(
        rows(connection, "SELECT domain_name, coalesce(subject_cn, '-') FROM ssl_certificates")
    )
    assert certificates == {
        "valid.tls.test": "valid.tls.test",
        "expiring5.tls.test": "expiring5.tls.test",
        "expired.tls.test": "expired.tls.test",
        "selfsigned.tls.test": "selfsigned.tls.test",
        "wronghost.tls.test": "other.tls.test",
        "sanonly.tls.test": "-",
    }
    attempts = rows(
        connection,
        "SELECT domain_name, status, reason, daemon FROM tls_scan_attempts ORDER BY domain_name",
    )
    by_name = {name: (status, reason, daemon) for name, status, reason, daemon in attempts}
    assert len(attempts) == len(BED_DOMAINS)
    assert by_name["refused.tls.test"] == ("failed", "connection_refused", "ssl_scanner")
    assert by_name["missing.tls.test"][1] == "nxdomain"
    assert by_name["silent.tls.test"][1] == "handshake_timeout"
    assert by_name["expired.tls.test"][0] == "expired"
    unstamped = rows(connection, "SELECT domain_name FROM domains WHERE last_ssl_scan IS NULL")
    assert unstamped == []
    leased = rows(connection, "SELECT domain_name FROM domains WHERE tls_lease_owner IS NOT NULL")
    assert leased == []

    alerts = set(rows(connection, "SELECT domain_name, kind, severity FROM tls_alerts"))
    assert ("expiring5.tls.test", "expiring", "high") in alerts
    assert ("expired.tls.test", "expired", "high") in alerts
    assert ("selfsigned.tls.test", "untrusted", "medium") in alerts
    assert ("wronghost.tls.test", "hostname_mismatch", "medium") in alerts
    assert not any(name == "valid.tls.test" for name, _, _ in alerts)
    assert "Batch: 9 domains" in completed.stdout


def test_scanner_second_run_finds_nothing(migrated_database, pg_connect, daemon_env):
    connection = pg_connect(migrated_database)
    insert_domains(connection, ["valid.tls.test", "refused.tls.test"])
    env = daemon_env(migrated_database)
    assert run_once("dnsscience.daemons.ssl_scanner", env).returncode == 0
    second = run_once("dnsscience.daemons.ssl_scanner", env)
    assert second.returncode == 0
    assert "Nothing more is due" in second.stdout
    assert rows(connection, "SELECT count(*) FROM tls_scan_attempts") == [("2",)]


def test_scanner_on_legacy_database(migrated_legacy_database, pg_connect, daemon_env):
    connection = pg_connect(migrated_legacy_database)
    connection.execute("UPDATE domains SET is_active = FALSE")
    insert_domains(connection, ["valid.tls.test"])
    completed = run_once("dnsscience.daemons.ssl_scanner", daemon_env(migrated_legacy_database))
    assert completed.returncode == 0, completed.stdout + completed.stderr
    legacy = rows(
        connection,
        "SELECT domain_name, issuer_cn FROM ssl_certificates ORDER BY domain_name",
    )
    assert legacy == [
        ("example.com", "R3"),
        ("example.net", "Unknown"),
        ("valid.tls.test", "dnsscience Test Intermediate CA"),
    ]


def test_monitor_rescans_expiring(migrated_database, pg_connect, daemon_env):
    connection = pg_connect(migrated_database)
    insert_domains(connection, ["expiring5.tls.test", "valid.tls.test"])
    env = daemon_env(migrated_database)
    assert run_once("dnsscience.daemons.ssl_scanner", env).returncode == 0
    connection.execute(
        "UPDATE domains SET last_ssl_scan = last_ssl_scan - interval '2 days', "
        "tls_next_attempt_at = NULL"
    )
    completed = run_once("dnsscience.daemons.ssl_monitord", env)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    monitored = rows(
        connection,
        "SELECT domain_name FROM tls_scan_attempts WHERE daemon = 'ssl_monitord'",
    )
    assert monitored == [("expiring5.tls.test",)]
    assert "Certificate expiring soon: expiring5.tls.test" in completed.stdout
    open_alerts = rows(connection, "SELECT count(*) FROM tls_alerts WHERE resolved_at IS NULL")
    assert open_alerts == [("1",)]


def test_monitor_resolves_renewed(migrated_database, pg_connect, daemon_env):
    connection = pg_connect(migrated_database)
    insert_domains(connection, ["valid.tls.test"])
    env = daemon_env(migrated_database)
    assert run_once("dnsscience.daemons.ssl_scanner", env).returncode == 0
    # Pretend the stored certificate was about to expire and had raised an alert.
    connection.execute(
        "UPDATE ssl_certificates SET expires_at = (now() AT TIME ZONE 'UTC') + interval '3 days'"
    )
    connection.execute(
        "INSERT INTO tls_alerts (domain_name, port, kind, severity, message, raised_at, "
        "last_seen_at) SELECT domain_name, port, 'expiring', 'high', 'test', now(), now() "
        "FROM ssl_certificates"
    )
    connection.execute("UPDATE domains SET last_ssl_scan = last_ssl_scan - interval '2 days'")
    completed = run_once("dnsscience.daemons.ssl_monitord", env)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert rows(connection, "SELECT resolved_at IS NOT NULL FROM tls_alerts") == [("t",)]


def test_scanner_sigterm_loses_nothing(migrated_database, pg_connect, daemon_env):
    connection = pg_connect(migrated_database)
    slow = [f"d{number}.silent.tls.test" for number in range(12)]
    insert_domains(connection, slow + ["valid.tls.test"])
    env = daemon_env(migrated_database, SSL_SCANNER_WORKERS="2")
    process = subprocess.Popen(
        command("dnsscience.daemons.ssl_scanner"),
        env=env,
        cwd=env["HOME"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            leased = rows(
                connection, "SELECT count(*) FROM domains WHERE tls_lease_owner IS NOT NULL"
            )
            if leased != [("0",)]:
                break
            time.sleep(0.1)
        time.sleep(1.0)
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, output
    assert "Stop requested" in output

    attempts_per_domain = rows(
        connection,
        "SELECT domain_name, count(*) FROM tls_scan_attempts GROUP BY domain_name",
    )
    assert all(count == "1" for _, count in attempts_per_domain)
    states = rows(
        connection,
        "SELECT domain_name, last_ssl_scan IS NOT NULL, tls_lease_owner IS NULL, "
        "EXISTS (SELECT 1 FROM tls_scan_attempts a WHERE a.domain_name = d.domain_name) "
        "FROM domains d",
    )
    for name, stamped, released, attempted in states:
        assert released == "t", name
        # A domain is either finished (stamped, one attempt) or untouched and still due.
        assert stamped == attempted, name
    unfinished = [name for name, stamped, _, _ in states if stamped == "f"]
    assert unfinished, "the stop came after every domain finished: nothing was tested"
