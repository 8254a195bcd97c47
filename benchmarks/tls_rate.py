"""TLS handshake rate against one local nginx: dnsscience versus ``openssl s_time``.

In one run against the ``valid.tls.test`` site of the TLS test bed (nginx with
one worker process on a ``127.44.3.x`` address, session cache and tickets off):

1. Ceiling: two ``openssl s_time -new`` clients in parallel for ``--seconds``;
   the sum of their connections per real second.
2. Ours: ``--handshakes`` probes of that site with ``dnsscience.scan_tls_many``,
   each result stored in a throwaway PostgreSQL database and committed; the
   rate is results committed per second of wall time.

Target: ours >= 0.7 of the ceiling. The prober opens at most two connections
at once to one address, as the two s_time clients do.

    ./dev bench tls_rate --handshakes 5000
"""

from __future__ import annotations

import argparse
import logging
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _support import BenchmarkReport, ProgressPrinter  # noqa: E402

TARGET_RATIO = 0.7
SITE = "valid.tls.test"
DATABASE = "bench_tls"
S_TIME_CLIENTS = 2


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--handshakes", type=int, default=5000, help="probes dnsscience makes (5000)"
    )
    parser.add_argument(
        "--seconds", type=int, default=15, help="duration of the s_time clients in seconds (15)"
    )
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON to PATH")
    arguments = parser.parse_args()
    if arguments.handshakes < 1 or arguments.seconds < 1:
        parser.error("--handshakes and --seconds must be at least 1")
    return arguments


def run_s_time(report: BenchmarkReport, address: str, port: int, seconds: int) -> float | None:
    """Run the s_time clients in parallel; record and return their summed rate."""
    openssl = shutil.which("openssl")
    if openssl is None:
        report.note("openssl is not installed; no ceiling measured")
        return None
    command = [openssl, "s_time", "-connect", f"{address}:{port}", "-new", "-time", str(seconds)]
    print(f"running {S_TIME_CLIENTS} x {' '.join(command)}", flush=True)
    clients = [
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for _ in range(S_TIME_CLIENTS)
    ]
    total = 0.0
    for number, client in enumerate(clients, start=1):
        output, _ = client.communicate(timeout=seconds * 4 + 30)
        match = re.search(r"(\d+) connections in ([\d.]+) real seconds", output)
        if client.returncode != 0 or match is None:
            report.note(f"s_time client {number} failed: {output.strip()[-400:]}")
            return None
        rate = int(match.group(1)) / float(match.group(2))
        report.measure(f"s_time_client{number}_handshakes_per_second", rate, "handshakes/s")
        total += rate
    report.measure("s_time_handshakes_per_second", total, "handshakes/s")
    return total


def migrate(dsn: str) -> None:
    from dnsscience._core import Connection
    from dnsscience.store.migrations import migrate as apply_migrations

    connection = Connection(dsn)
    try:
        apply_migrations(connection)
    finally:
        connection.close()


def run_ours(report: BenchmarkReport, bed, address: str, port: int, dsn: str, count: int) -> float:
    """Probe the site ``count`` times, storing and committing every result; return the rate."""
    import json

    import dnsscience
    from dnsscience._core import Connection
    from dnsscience.store import tls as tls_store

    item = json.dumps({"host": address, "port": port, "sni": SITE})
    connection = Connection(dsn)
    failed = 0
    stored = 0
    pending = []
    print(f"dnsscience: {count} probes of {SITE} at {address}:{port}", flush=True)
    started = time.monotonic()
    try:
        for result in dnsscience.scan_tls_many(
            [item] * count, ca_file=str(bed.ca_file), progress=ProgressPrinter("dnsscience")
        ):
            if result.status == "failed":
                failed += 1
            pending.append(result)
            if len(pending) >= 500:
                tls_store.store_results(connection, pending)
                stored += len(pending)
                pending = []
        if pending:
            tls_store.store_results(connection, pending)
            stored += len(pending)
        elapsed = time.monotonic() - started
    finally:
        connection.close()
    report.measure("ours_probes", count)
    report.measure("ours_failed_probes", failed)
    report.measure("ours_results_stored", stored)
    report.measure("ours_seconds", elapsed, "s")
    rate = (count - failed) / elapsed
    report.measure("ours_handshakes_per_second", rate, "handshakes/s")
    return rate


def main() -> int:
    arguments = parse_arguments()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    from dnsscience.testbed.postgres import PostgresCluster
    from dnsscience.testbed.tls import TlsTestBed

    report = BenchmarkReport("tls_rate")
    report.print_machine()
    print("starting the TLS test bed and PostgreSQL", flush=True)
    with TlsTestBed() as bed, PostgresCluster() as cluster:
        target = bed.target(SITE)
        ceiling = run_s_time(report, target.address, target.port, arguments.seconds)
        dsn = cluster.create_database(DATABASE)
        migrate(dsn)
        ours = run_ours(report, bed, target.address, target.port, dsn, arguments.handshakes)

    ratio = ours / ceiling if ceiling else None
    report.measure("ratio", ratio)
    report.target("handshakes/s ours / s_time", ratio, TARGET_RATIO, higher_is_better=True)
    return report.finish(arguments.json)


if __name__ == "__main__":
    raise SystemExit(main())
