"""Email check throughput end to end, against the DNS server's own ceiling.

In one run, on the local test bed (Knot on 127.0.0.1 serving ``--domains``
generated domains, and a throwaway PostgreSQL cluster):

1. Ceiling: ``dnsperf`` replays the query mix of one email check per domain
   (see ``query_mix.py``) against Knot with several clients and threads, at two
   depths of outstanding queries, and the higher queries per second counts.
2. Ours: the domains are inserted into ``domains`` of a migrated database, and
   ``dnsscience-emaild --once`` runs with the test bed's settings in its
   environment until every due domain is checked and stored. Reported: wall
   time, domains per second, queries per second (query-mix count per domain
   times domains, divided by the wall time) and the daemon's peak RSS.

3. Diagnosis (not a target): ``check_email_many`` in this process, without
   the database, on the first ``--library-domains`` domains, once per cap on
   queries in flight to one nameserver in ``--library-caps``. The daemon uses
   ``dnsscience.email.DEFAULT_INFLIGHT_PER_NAMESERVER``; a cap of 1000
   overflows the UDP receive buffer of Knot's sockets (net.core.rmem_default,
   212,992 bytes on the benchmark machine).

Targets: ours >= 0.5 of dnsperf's queries per second; peak RSS < 300 MiB.

    ./dev bench email_throughput --domains 100000
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _support import (  # noqa: E402
    BenchmarkReport,
    CpuMeter,
    daemon_command,
    daemon_environment,
    load_domains,
    migrate,
    run_process,
    udp_receive_buffer_errors,
)
from query_mix import QueryMix, run_dnsperf  # noqa: E402

TARGET_QPS_RATIO = 0.5
TARGET_PEAK_RSS_MIB = 300.0
DATABASE = "bench_email"
#: Server processes whose CPU use is recorded during each run.
SERVER_PROCESSES = ("knotd", "postgres")


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--domains", type=int, default=100_000, help="generated domains to check (100000)"
    )
    parser.add_argument("--seed", type=int, default=1, help="zone generator seed (1)")
    parser.add_argument(
        "--concurrency",
        type=int,
        default=500,
        help="DNSSCIENCE_CONCURRENCY of the daemon: domains checked at once (500)",
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        default=5000,
        help="DNSSCIENCE_BATCH_SIZE of the daemon: domains claimed per batch (5000)",
    )
    parser.add_argument(
        "--dnsperf-seconds",
        type=float,
        default=20.0,
        help="duration of each dnsperf run in seconds (20)",
    )
    parser.add_argument(
        "--dnsperf-outstanding",
        default="200,1000",
        help="comma-separated dnsperf -q values (maximum outstanding queries) to try",
    )
    parser.add_argument(
        "--library-domains",
        type=int,
        default=20_000,
        help="domains of each in-process check_email_many run, 0 to skip them (20000)",
    )
    parser.add_argument(
        "--library-caps",
        default="1000,256",
        help="comma-separated max_inflight_per_nameserver values of the in-process runs",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=3600.0,
        help="seconds after which the daemon run is killed and the benchmark fails (3600)",
    )
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON to PATH")
    arguments = parser.parse_args()
    if arguments.domains < 1:
        parser.error("--domains must be at least 1")
    return arguments


def run_ours(
    report: BenchmarkReport,
    arguments: argparse.Namespace,
    dsn: str,
    nameserver: str,
    workdir: Path,
):
    environment = daemon_environment(
        {
            "DATABASE_URL": dsn,
            "DNSSCIENCE_NAMESERVERS": nameserver,
            "DNSSCIENCE_CONCURRENCY": str(arguments.concurrency),
            "DNSSCIENCE_BATCH_SIZE": str(arguments.batch_size),
        }
    )
    log_path = workdir / "emaild.log"
    command = [
        *daemon_command("dnsscience-emaild", "dnsscience.daemons.emaild"),
        "--once",
        "--log-level",
        "INFO",
    ]
    print(
        f"running {' '.join(command)} with DNSSCIENCE_CONCURRENCY={arguments.concurrency} "
        f"DNSSCIENCE_BATCH_SIZE={arguments.batch_size} (log {log_path})",
        flush=True,
    )
    run = run_process(command, env=environment, stdout_path=log_path, timeout=arguments.timeout)
    log_tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-15:])
    print(log_tail)
    report.measure("ours_exit_status", run.returncode)
    report.measure("ours_seconds", run.elapsed_seconds, "s")
    report.measure("ours_peak_rss_mib", run.max_rss_mib, "MiB")
    report.measure("ours_wait4_max_rss_mib", run.wait4_max_rss_mib, "MiB")
    report.measure("ours_cpu_user_seconds", run.user_seconds, "s")
    report.measure("ours_cpu_system_seconds", run.system_seconds, "s")
    return run


def run_library(
    report: BenchmarkReport,
    domains: list[str],
    nameserver: str,
    concurrency: int,
    cap: int,
    queries_per_domain: float,
) -> None:
    """Check ``domains`` in this process with ``cap`` queries in flight; record the rates."""
    from dnsscience.email import check_email_many

    print(f"check_email_many: {len(domains)} domains, max_inflight_per_nameserver {cap}")
    drops_before = udp_receive_buffer_errors()
    started = time.monotonic()
    results = list(
        check_email_many(
            domains,
            nameservers=[nameserver],
            concurrency=concurrency,
            max_inflight_per_nameserver=cap,
        )
    )
    elapsed = time.monotonic() - started
    prefix = f"library_cap{cap}"
    report.measure(f"{prefix}_domains_per_second", len(results) / elapsed, "domains/s")
    report.measure(
        f"{prefix}_qps_from_mix", len(results) * queries_per_domain / elapsed, "queries/s"
    )
    report.measure(f"{prefix}_incomplete", sum(1 for result in results if not result.complete))
    report.measure(f"{prefix}_udp_receive_buffer_drops", udp_receive_buffer_errors() - drops_before)


def count_stored(cluster, dsn: str) -> tuple[int, int]:
    """Return (rows in email_security_records, of them complete).

    The store moves ``last_checked`` only for a complete result. A result with a
    lookup that failed transiently keeps ``last_checked`` (NULL here) and gets a
    retry time.
    """
    rows = cluster.query(dsn, "SELECT count(*), count(last_checked) FROM email_security_records")
    return int(rows[0][0]), int(rows[0][1])


def main() -> int:
    arguments = parse_arguments()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    outstanding = [int(item) for item in arguments.dnsperf_outstanding.split(",") if item.strip()]
    library_caps = [int(item) for item in arguments.library_caps.split(",") if item.strip()]
    from dnsscience.email import DEFAULT_DKIM_SELECTORS
    from dnsscience.testbed import TestBed

    report = BenchmarkReport("email_throughput")
    report.print_machine()
    print(f"starting the test bed with {arguments.domains} generated domains", flush=True)
    started = time.monotonic()
    with TestBed(
        domains=arguments.domains,
        seed=arguments.seed,
        postgres=True,
        hard_cases=False,
        corpus=False,
    ) as bed:
        report.measure("testbed_start_seconds", time.monotonic() - started, "s")
        domains = list(bed.domains)
        workdir = bed.workdir
        report.measure("domains", len(domains))

        mix = QueryMix(bed.manifest, bed.nameserver, DEFAULT_DKIM_SELECTORS)
        input_path = workdir / "dnsperf-queries.txt"
        queries = mix.write_dnsperf_input(input_path, domains)
        queries_per_domain = queries / len(domains)
        report.measure("mix_queries", queries)
        report.measure("mix_queries_per_domain", queries_per_domain)

        drops_before = udp_receive_buffer_errors()
        meter = CpuMeter(SERVER_PROCESSES + ("dnsperf",))
        ceiling = run_dnsperf(
            report, bed.nameserver, input_path, arguments.dnsperf_seconds, outstanding
        )
        meter.report(report, "dnsperf")
        report.measure(
            "dnsperf_udp_receive_buffer_drops", udp_receive_buffer_errors() - drops_before
        )

        cluster = bed.postgres
        dsn = cluster.create_database(DATABASE)
        migrate(dsn)
        load_domains(cluster, dsn, domains, workdir)
        drops_before = udp_receive_buffer_errors()
        meter = CpuMeter(SERVER_PROCESSES)
        run = run_ours(report, arguments, dsn, bed.nameserver, workdir)
        meter.report(report, "ours")
        report.measure("ours_udp_receive_buffer_drops", udp_receive_buffer_errors() - drops_before)
        stored, complete = count_stored(cluster, dsn)
        report.measure("ours_rows_stored", stored)
        report.measure("ours_rows_complete", complete)
        report.measure("ours_rows_incomplete", stored - complete)

        if run.returncode != 0 or stored < len(domains):
            kept = Path.cwd() / "email_throughput-emaild.log"
            shutil.copy(workdir / "emaild.log", kept)
            report.note(
                f"the daemon exited with {run.returncode} and stored {stored} of "
                f"{len(domains)} domains; its log is in {kept}"
            )

        domains_per_second = stored / run.elapsed_seconds
        ours_qps = domains_per_second * queries_per_domain
        report.measure("ours_domains_per_second", domains_per_second, "domains/s")
        report.measure("ours_qps_from_mix", ours_qps, "queries/s")

        sample = domains[: arguments.library_domains]
        for cap in library_caps if sample else []:
            run_library(
                report, sample, bed.nameserver, arguments.concurrency, cap, queries_per_domain
            )

    ratio = ours_qps / ceiling if ceiling else None
    report.measure("qps_ratio", ratio)
    report.target("queries/s ours / dnsperf", ratio, TARGET_QPS_RATIO, higher_is_better=True)
    report.target("peak RSS of the daemon in MiB", run.max_rss_mib, TARGET_PEAK_RSS_MIB, False)
    report.target("domains stored / domains", stored / len(domains), 1.0, True)
    return report.finish(arguments.json)


if __name__ == "__main__":
    raise SystemExit(main())
