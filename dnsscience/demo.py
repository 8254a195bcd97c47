"""``dnsscience demo``: the whole email and TLS path on the local test bed.

Starts the test bed: Knot DNS with generated zones, hard cases and the real-world
corpus, a throwaway PostgreSQL cluster and the TLS servers. Then it applies the
migrations, loads the domains and runs emaild's worker until every domain has a
definitive result or a recorded failure. Last, it scans the TLS test bed, prints a
report built from what was stored, and stops everything it started.
"""

from __future__ import annotations

import logging
import sys
import time
from collections import Counter
from typing import TextIO

__all__ = ["run_demo"]

logger = logging.getLogger(__name__)

#: Domains checked at once in the demo.
DEMO_CONCURRENCY = 1000
#: Domains claimed per batch in the demo.
DEMO_BATCH_SIZE = 2500


def _percent(part: int, whole: int) -> str:
    return f"{100.0 * part / whole:5.1f}%" if whole else "    -"


def _print_email_report(out: TextIO, report: dict, elapsed: float, stored: int) -> None:
    total = report["checked"]
    out.write("\nEmail security\n")
    out.write(f"  domains in the database:     {report['domains']}\n")
    out.write(f"  domains checked and stored:  {stored} in {elapsed:.1f} s "
              f"({stored / elapsed if elapsed else 0:.0f} domains/s)\n")
    out.write(f"  complete results:            {report['complete']}\n")
    out.write(f"  waiting for a retry:         {report['incomplete']}\n")
    out.write(f"  invalid names:               {report['invalid']}\n")
    out.write("\n  Coverage (share of checked domains)\n")
    for label, key in (
        ("MX", "has_mx"), ("null MX", "null_mx"), ("SPF", "has_spf"), ("DMARC", "has_dmarc"),
        ("DKIM", "has_dkim"), ("MTA-STS", "has_mta_sts"), ("TLS-RPT", "has_tls_rpt"),
        ("BIMI", "has_bimi"),
    ):
        out.write(f"    {label:<9}{report[key]:>8}  {_percent(report[key], total)}\n")
    out.write(f"\n  SPF published but invalid:   {report['spf_invalid']}\n")
    out.write(f"  DMARC published, no policy:  {report['dmarc_invalid']}\n")
    out.write("\n  Findings by code\n")
    for code, count in report["findings"]:
        out.write(f"    {count:>8}  {code}\n")
    out.write("\n  Lookup failures by kind\n")
    if not report["lookup_failures"]:
        out.write("    none\n")
    for lookup, status, count in report["lookup_failures"]:
        out.write(f"    {count:>8}  {lookup}: {status}\n")


def _print_tls_report(out: TextIO, results: list, elapsed: float) -> None:
    statuses = Counter(result.status for result in results)
    failures = Counter(
        f"{result.error.stage}: {result.error.reason}" for result in results if result.error
    )
    out.write("\nTLS certificates\n")
    out.write(f"  targets scanned:  {len(results)} in {elapsed:.1f} s\n")
    for status in ("valid", "expiring_soon", "expired", "not_yet_valid", "untrusted",
                   "hostname_mismatch", "failed"):
        out.write(f"    {status:<18}{statuses.get(status, 0):>5}\n")
    out.write("\n  Failures by reason\n")
    for reason, count in sorted(failures.items()):
        out.write(f"    {count:>5}  {reason}\n")


def _run_emaild(dsn: str, nameserver: str) -> tuple[int, float]:
    from dnsscience import _core
    from dnsscience.config import Settings
    from dnsscience.daemons.emaild import EmailWorker
    from dnsscience.daemons.runtime import StopSignal

    settings = Settings.from_environment(env={
        "DATABASE_URL": dsn,
        "DNSSCIENCE_NAMESERVERS": nameserver,
        "DNSSCIENCE_CONCURRENCY": str(DEMO_CONCURRENCY),
        "DNSSCIENCE_BATCH_SIZE": str(DEMO_BATCH_SIZE),
    })
    worker = EmailWorker(settings, logging.getLogger("dnsscience_emaild"))
    connection = _core.Connection(dsn)
    stop = StopSignal()
    stored = 0
    started = time.monotonic()
    try:
        worker.open(connection)
        while True:
            done = worker.run_batch(connection, stop)
            if done == 0:
                break
            stored += done
            print(f"  ... {stored} domains stored", flush=True)
    finally:
        worker.close()
        connection.close()
    return stored, time.monotonic() - started


def _scan_tls_bed(bed) -> tuple[list, float]:
    from dnsscience.testbed.knot import KnotServer
    from dnsscience.tls import scan_tls_many

    # The TLS servers' names live in their own zone, served by a second Knot.
    workdir = bed.workdir / "tls-knot"
    workdir.mkdir()
    zone_file = workdir / f"{bed.tls.zone}.zone"
    zone_file.write_text(bed.tls.zone_text())
    knot = KnotServer({bed.tls.zone: zone_file}, workdir)
    knot.start()
    try:
        return _scan_targets(bed, knot.nameserver, scan_tls_many)
    finally:
        knot.stop()


def _scan_targets(bed, nameserver: str, scan_tls_many) -> tuple[list, float]:
    targets = [
        {"host": target.name, "port": target.port, "starttls": target.starttls}
        for target in bed.tls.targets
    ]
    started = time.monotonic()
    results = list(
        scan_tls_many(targets, nameservers=[nameserver], ca_file=str(bed.tls.ca_file),
                      timeout=2.0)
    )
    return results, time.monotonic() - started


def run_demo(domains: int = 10_000, seed: int = 1, out: TextIO = sys.stdout) -> int:
    """Run the demo and print its report to ``out``; return the exit status."""
    from dnsscience import _core
    from dnsscience.store import report as store_report
    from dnsscience.store.domains import add_domains
    from dnsscience.store.migrations import migrate
    from dnsscience.testbed import TestBed

    out.write(f"Starting the local test bed with {domains} generated domains (seed {seed})\n")
    out.flush()
    with TestBed(domains=domains, seed=seed, postgres=True, tls=True) as bed:
        out.write(f"  Knot DNS on {bed.nameserver}, PostgreSQL on {bed.postgres.dsn}\n")
        dsn = bed.postgres.create_database("dnsscience_demo")
        connection = _core.Connection(dsn)
        try:
            applied = migrate(connection)
            out.write(f"  applied {len(applied)} migrations\n")
            summary = add_domains(connection, bed.domains)
            out.write(f"  loaded {len(summary.added)} domains\n")
        finally:
            connection.close()

        out.write("Running emaild until every domain has a result\n")
        out.flush()
        stored, elapsed = _run_emaild(dsn, bed.nameserver)

        connection = _core.Connection(dsn)
        try:
            report = store_report.email_report(connection)
        finally:
            connection.close()
        _print_email_report(out, report, elapsed, stored)

        tls_results, tls_elapsed = _scan_tls_bed(bed)
        _print_tls_report(out, tls_results, tls_elapsed)

    out.write("\nStopped the test bed.\n")
    recorded = report["complete"] + report["incomplete"] + report["invalid"]
    unfinished = report["domains"] - recorded
    if unfinished > 0:
        out.write(f"{unfinished} domains have no stored result\n")
        return 1
    return 0
