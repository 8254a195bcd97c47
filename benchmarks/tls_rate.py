"""TLS handshake rate against one local nginx: dnsscience versus ``openssl s_time``.

In one run against the ``valid.tls.test`` site of the TLS test bed (nginx with
one worker process on a ``127.44.3.x`` address, session cache and tickets off):

1. Ceiling: two ``openssl s_time -new`` clients in parallel for ``--seconds``;
   the sum of their connections per real second.
2. Ours: ``--handshakes`` domains ``d<N>.rate.test``, served by a private Knot
   with an A record to that site, are inserted into a throwaway PostgreSQL, and
   ``dnsscience-ssl-scanner --once`` probes them all and stores the results.
   The rate is certificates committed to ``ssl_certificates`` per second of the
   daemon's wall time, start-up included. The site's certificate names
   valid.tls.test, so every result is a hostname mismatch, which costs the same
   handshake.

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
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _support import (  # noqa: E402
    BenchmarkReport,
    daemon_command,
    daemon_environment,
    load_domains,
    migrate,
    run_process,
)

TARGET_RATIO = 0.7
SITE = "valid.tls.test"
ZONE = "rate.test"
DATABASE = "bench_tls"
S_TIME_CLIENTS = 2


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--handshakes", type=int, default=5000, help="domains the scanner probes (5000)"
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        default=1000,
        help="DNSSCIENCE_BATCH_SIZE of the scanner: domains claimed per batch (1000)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=1800.0,
        help="seconds after which the scanner run is killed (1800)",
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


def start_rate_zone(address: str, count: int, workdir: Path):
    """Start a Knot serving ``d0.rate.test`` ... with A records to ``address``."""
    from dnsscience.testbed.knot import KnotServer
    from dnsscience.testbed.zonedata import ZoneSet

    zones = ZoneSet()
    zones.add_zone(ZONE)
    names = [f"d{index}.{ZONE}" for index in range(count)]
    for name in names:
        zones.add(name, "A", address)
    knot = KnotServer(zones.write_zone_files(workdir / "zones"), workdir / "knot")
    knot.start()
    return knot, names


def run_ours(
    report: BenchmarkReport, arguments: argparse.Namespace, bed, port: int, cluster, workdir: Path
) -> float | None:
    """Run the scanner daemon over the rate domains; return certificates stored per second."""
    target = bed.target(SITE)
    knot, names = start_rate_zone(target.address, arguments.handshakes, workdir)
    try:
        dsn = cluster.create_database(DATABASE)
        migrate(dsn)
        load_domains(cluster, dsn, names, workdir)
        environment = daemon_environment(
            {
                "DATABASE_URL": dsn,
                "DNSSCIENCE_NAMESERVERS": knot.nameserver,
                "DNSSCIENCE_TLS_PORTS": str(port),
                "DNSSCIENCE_CA_FILE": str(bed.ca_file),
                "DNSSCIENCE_BATCH_SIZE": str(arguments.batch_size),
            }
        )
        command = [
            *daemon_command("dnsscience-ssl-scanner", "dnsscience.daemons.ssl_scanner"),
            "--once",
        ]
        log_path = workdir / "ssl_scanner.log"
        print(f"running {' '.join(command)} over {len(names)} domains (log {log_path})", flush=True)
        run = run_process(command, env=environment, stdout_path=log_path, timeout=arguments.timeout)
        print("\n".join(log_path.read_text(errors="replace").splitlines()[-10:]))
    finally:
        knot.stop()

    # The port is an int that this process chose, so formatting it into SQL is safe.
    rows = cluster.query(
        dsn,
        f"SELECT count(*) FROM ssl_certificates WHERE port = {int(port)} "
        "AND last_checked IS NOT NULL",
    )
    stored = int(rows[0][0])
    report.measure("ours_exit_status", run.returncode)
    report.measure("ours_domains", len(names))
    report.measure("ours_certificates_stored", stored)
    report.measure("ours_seconds", run.elapsed_seconds, "s")
    report.measure("ours_peak_rss_mib", run.max_rss_mib, "MiB")
    report.measure("ours_wait4_max_rss_mib", run.wait4_max_rss_mib, "MiB")
    if run.returncode != 0 or stored < len(names):
        report.note(
            f"the scanner exited with {run.returncode} and stored {stored} of {len(names)} "
            "certificates"
        )
    rate = stored / run.elapsed_seconds
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
        with tempfile.TemporaryDirectory(prefix="dnsscience-tls-rate-") as folder:
            ours = run_ours(report, arguments, bed, target.port, cluster, Path(folder))

    ratio = ours / ceiling if ceiling and ours is not None else None
    report.measure("ratio", ratio)
    report.target("handshakes/s ours / s_time", ratio, TARGET_RATIO, higher_is_better=True)
    return report.finish(arguments.json)


if __name__ == "__main__":
    raise SystemExit(main())
