"""emaild end to end: the daemon as a process, against Knot and PostgreSQL."""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from daemon_support import EMAILD as EMAILD_SCRIPT
from daemon_support import daemon_environment

from dnsscience.store.domains import add_domains
from dnsscience.testbed.responder import Responder

EMAILD = [EMAILD_SCRIPT]



def _run_once(dsn: str, nameserver: str, **extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*EMAILD, "--once"], env=daemon_environment(dsn, nameserver, **extra),
        capture_output=True, text=True, timeout=300,
    )


def _rows(connection, sql: str, params=()):
    _, rows, _ = connection.execute(sql, list(params))
    return rows


def _utc_now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def test_once_stores_legacy_columns(dns_testbed, migrated_database, pg_connect):
    connection = pg_connect(migrated_database)
    groups = dns_testbed.manifest["hard_cases"].values()
    names = [name for group in groups for name in group] + dns_testbed.domains[:300]
    add_domains(connection, names)

    completed = _run_once(migrated_database, dns_testbed.nameserver)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "Nothing more is due" in completed.stdout

    rows = _rows(connection, """
        SELECT d.domain_name, r.has_mx, r.mx_records, r.mx_count, r.has_spf, r.spf_valid,
               r.dmarc_policy, r.dkim_selectors, r.last_checked
        FROM domains d JOIN email_security_records r ON r.domain_id = d.id""")
    by_name = {row[0]: row for row in rows}
    assert len(by_name) == len(set(names))

    null_mx = by_name["mx-null.hard.test"]
    assert null_mx[1] == "f"
    assert null_mx[3] == "0"

    ordered = by_name["mx-preference-order.hard.test"]
    truth = dns_testbed.manifest["truth"]["mx-preference-order.hard.test"]
    assert ordered[2] == "{" + ",".join(truth["mx_hosts"]) + "}"

    assert by_name["spf-two-records.hard.test"][5] == "f"
    assert by_name["dmarc-sp-before-p.hard.test"][6] == (
        dns_testbed.manifest["truth"]["dmarc-sp-before-p.hard.test"]["dmarc_policy"])
    assert by_name["dkim-wildcard.hard.test"][7] == "{google}"
    truth_of = dns_testbed.manifest["truth"]
    without_dkim = next(name for name in names
                        if not truth_of[name]["dkim_selectors"]
                        and not truth_of[name]["dkim_revoked_selectors"])
    assert by_name[without_dkim][7] is None

    # The cluster's session zone is far from UTC: a stored time near UTC now proves
    # that nothing depends on the session zone.
    last_checked = datetime.fromisoformat(by_name["mx-null.hard.test"][8])
    assert abs(last_checked - _utc_now()) < timedelta(minutes=5)

    attempts = _rows(connection, """
        SELECT domain_id, count(*) FROM email_check_attempts GROUP BY 1 HAVING count(*) > 1""")
    assert attempts == []


def test_unmigrated_database_stops_daemon(dns_testbed, legacy_database):
    completed = _run_once(legacy_database, dns_testbed.nameserver)
    assert completed.returncode == 4
    assert "dnsscience db migrate" in completed.stdout
    assert "email_security_details" in completed.stdout


def test_help_lists_settings_and_exit_statuses():
    completed = subprocess.run([*EMAILD, "--help"], capture_output=True, text=True, timeout=60)
    assert completed.returncode == 0
    for name in ("DATABASE_URL", "DB_PASS", "DNSSCIENCE_CONCURRENCY", "DNSSCIENCE_TLS_CONNECTIONS"):
        assert name in completed.stdout
    assert "exit status" in completed.stdout


def test_once_gives_up_on_unreachable_database(dns_testbed):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # Nothing listens on the port, so every connection attempt is refused at once.
    dsn = f"postgresql://postgres@127.0.0.1:{port}/nothing?connect_timeout=2"
    started = time.monotonic()
    completed = _run_once(dsn, dns_testbed.nameserver)
    assert completed.returncode == 4
    assert "giving up (--once)" in completed.stdout
    # Three pauses of 1, 2 and 4 s between four attempts.
    assert 6.0 < time.monotonic() - started < 60.0


def test_migrated_legacy_database_keeps_rows(dns_testbed, migrated_legacy_database,
                                             pg_connect):
    connection = pg_connect(migrated_legacy_database)
    before = _rows(connection, "SELECT count(*) FROM email_security_records")[0][0]
    history = _rows(connection, "SELECT count(*) FROM schema_migrations")[0][0]
    add_domains(connection, dns_testbed.domains[:50])

    completed = _run_once(migrated_legacy_database, dns_testbed.nameserver)
    assert completed.returncode == 0, completed.stdout + completed.stderr

    after = int(_rows(connection, "SELECT count(*) FROM email_security_records")[0][0])
    assert after >= int(before)
    assert _rows(connection, "SELECT count(*) FROM schema_migrations")[0][0] == history


def test_transient_failure_keeps_previous_values(dns_testbed, migrated_database, pg_connect,
                                                 tmp_path: Path):
    connection = pg_connect(migrated_database)
    truth = dns_testbed.manifest["truth"]
    domain = next(name for name in dns_testbed.domains
                  if truth[name]["source"] == "generated" and truth[name]["dmarc_policy"]
                  and truth[name]["has_mx"] and not truth[name]["null_mx"])
    add_domains(connection, [domain])
    assert _run_once(migrated_database, dns_testbed.nameserver).returncode == 0
    first = _rows(connection, """
        SELECT r.dmarc_record, r.dmarc_policy, r.last_checked
        FROM email_security_records r JOIN domains d ON d.id = r.domain_id
        WHERE d.domain_name = $1""", [domain])[0]
    assert first[1] == truth[domain]["dmarc_policy"]

    # Make the domain due again, then answer its DMARC query with silence.
    connection.execute("""
        UPDATE email_security_records SET last_checked = last_checked - interval '8 days'""")
    rules = [{"name": f"_dmarc.{domain}", "action": "timeout"}]
    with Responder(tmp_path, upstream=dns_testbed.nameserver, rules=rules) as responder:
        completed = _run_once(migrated_database, responder.nameserver)
    assert completed.returncode == 0, completed.stdout + completed.stderr

    second = _rows(connection, """
        SELECT r.dmarc_record, r.dmarc_policy, r.last_checked, s.lookup_status ->> 'dmarc',
               s.next_attempt_at, s.complete
        FROM email_security_records r
        JOIN domains d ON d.id = r.domain_id
        JOIN email_security_details s ON s.domain_id = d.id
        WHERE d.domain_name = $1""", [domain])[0]
    assert second[0] == first[0]
    assert second[1] == first[1]
    assert datetime.fromisoformat(second[2]) < datetime.fromisoformat(first[2])
    assert second[3] == "timeout"
    retry_in = datetime.fromisoformat(second[4]) - _utc_now()
    assert timedelta(minutes=50) < retry_in < timedelta(minutes=70)
    assert second[5] == "f"


def test_sigterm_mid_batch_loses_nothing(dns_testbed, migrated_database, pg_connect,
                                         tmp_path: Path):
    connection = pg_connect(migrated_database)
    names = dns_testbed.domains[:1500]
    add_domains(connection, names)

    # Each answer waits 40 ms, so the batch lasts long enough to be interrupted.
    with Responder(tmp_path, upstream=dns_testbed.nameserver, delay_ms=40,
                   rules=[]) as responder:
        env = daemon_environment(migrated_database, responder.nameserver,
                           DNSSCIENCE_CONCURRENCY="20", DNSSCIENCE_BATCH_SIZE="1500")
        process = subprocess.Popen([*EMAILD, "--once"], env=env, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            stored = int(_rows(connection, "SELECT count(*) FROM email_check_attempts")[0][0])
            if stored > 0:
                break
            time.sleep(0.2)
        assert stored > 0, "no result was committed before the deadline"
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=60)
        assert process.returncode == 0, output
        assert "Stop requested" in output

        committed = int(_rows(connection, "SELECT count(*) FROM email_check_attempts")[0][0])
        assert committed < len(names), "the batch finished before SIGTERM arrived"
        leased = _rows(connection, """
            SELECT count(*) FROM email_security_details
            WHERE claimed_until > (now() AT TIME ZONE 'UTC')""")[0][0]
        assert leased == "0"

        completed = _run_once(migrated_database, responder.nameserver,
                              DNSSCIENCE_CONCURRENCY="500")
        assert completed.returncode == 0, completed.stdout + completed.stderr

    per_domain = _rows(connection, """
        SELECT count(*) AS attempts FROM email_check_attempts GROUP BY domain_id""")
    assert len(per_domain) == len(names)
    assert {row[0] for row in per_domain} == {"1"}


@pytest.mark.parametrize(
    ("drift", "named"),
    [
        ("ALTER TABLE email_security_records RENAME COLUMN dmarc_policy TO dmarc_policy_old",
         "dmarc_policy"),
        ("ALTER TABLE email_security_records RENAME TO email_security_records_old",
         "email_security_records"),
        ("DROP INDEX email_security_records_domain_id_unique", "domain_id"),
    ],
)
def test_schema_drift_stops_daemon(dns_testbed, migrated_database, pg_connect, drift, named):
    connection = pg_connect(migrated_database)
    for statement in drift.split(";"):
        connection.execute(statement)
    _, rows, _ = connection.execute("""
        SELECT count(*) FROM pg_index i
        JOIN pg_class c ON c.oid = i.indrelid
        WHERE c.relname = 'email_security_records' AND i.indisunique
          AND i.indkey::text = (SELECT attnum::text FROM pg_attribute
                                WHERE attrelid = c.oid AND attname = 'domain_id')""")
    if named == "domain_id":
        assert rows[0][0] == "0", "the drift left a unique index on domain_id"

    completed = _run_once(migrated_database, dns_testbed.nameserver)
    assert completed.returncode == 4, completed.stdout
    assert named in completed.stdout
    assert "dnsscience db migrate" in completed.stdout
