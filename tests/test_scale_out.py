"""Several emaild instances sharing one database split the work without overlap."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

from daemon_support import EMAILD as EMAILD_SCRIPT
from daemon_support import daemon_environment

from dnsscience.store.domains import add_domains
from dnsscience.testbed.responder import Responder

EMAILD = [EMAILD_SCRIPT, "--once"]


def _scalar(connection, sql: str) -> str:
    _, rows, _ = connection.execute(sql)
    return rows[0][0]


def _attempts_per_domain(connection) -> dict[str, int]:
    """Return how many domains have each number of attempts, e.g. {"1": 10000}."""
    _, rows, _ = connection.execute(
        "SELECT count(*) FROM email_check_attempts GROUP BY domain_id")
    counts: dict[str, int] = {}
    for (attempts,) in rows:
        counts[attempts] = counts.get(attempts, 0) + 1
    return counts


def test_three_instances_check_each_domain_once(dns_testbed, migrated_database, pg_connect):
    connection = pg_connect(migrated_database)
    names = dns_testbed.domains[:10_000]
    add_domains(connection, names)

    env = daemon_environment(migrated_database, dns_testbed.nameserver,
                       DNSSCIENCE_BATCH_SIZE="400", DNSSCIENCE_CONCURRENCY="200")
    processes = [subprocess.Popen(EMAILD, env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True) for _ in range(3)]
    outputs = [process.communicate(timeout=600)[0] for process in processes]
    for process, output in zip(processes, outputs, strict=True):
        assert process.returncode == 0, output

    assert _attempts_per_domain(connection) == {"1": len(names)}
    instances = _scalar(connection, "SELECT count(DISTINCT instance) FROM email_check_attempts")
    assert instances == "3"
    unchecked = _scalar(connection, """
        SELECT count(*) FROM domains d
        LEFT JOIN email_security_details s ON s.domain_id = d.id
        WHERE s.last_attempt_at IS NULL""")
    assert unchecked == "0"


def test_killed_instance_work_taken_over(dns_testbed, migrated_database, pg_connect,
                                         tmp_path: Path):
    connection = pg_connect(migrated_database)
    names = dns_testbed.domains[:1200]
    add_domains(connection, names)
    lease = "6"

    with Responder(tmp_path, upstream=dns_testbed.nameserver, delay_ms=40,
                   rules=[]) as responder:
        slow = daemon_environment(migrated_database, responder.nameserver,
                            DNSSCIENCE_BATCH_SIZE="600", DNSSCIENCE_CONCURRENCY="20",
                            DNSSCIENCE_LEASE_SECONDS=lease)
        victim = subprocess.Popen(EMAILD, env=slow, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if int(_scalar(connection, "SELECT count(*) FROM email_check_attempts")) > 0:
                break
            time.sleep(0.2)
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=10)

    held = int(_scalar(connection, """
        SELECT count(*) FROM email_security_details
        WHERE claimed_until > (now() AT TIME ZONE 'UTC')"""))
    assert held > 0, "the killed instance left no lease behind"

    # Another instance takes the unleased domains now, and the killed one's after
    # its lease expired.
    fast = daemon_environment(migrated_database, dns_testbed.nameserver,
                        DNSSCIENCE_LEASE_SECONDS=lease)
    first = subprocess.run(EMAILD, env=fast, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stdout
    time.sleep(float(lease) + 1)
    second = subprocess.run(EMAILD, env=fast, capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stdout

    assert _attempts_per_domain(connection) == {"1": len(names)}
