"""Email checks against a slow nameserver: dnsscience versus the original logic.

The test bed's responder proxies to Knot and delays every answer by ``--delay-ms``
(30 ms by default), which models a remote authoritative server. In one run this
benchmark checks ``--domains`` generated domains with
``dnsscience.check_email_many`` and the first ``--baseline-domains`` of them with
the original daemon's one-domain-at-a-time dnspython logic
(``benchmarks/baseline_emaild.py``), and prints domains per second of each and
their ratio. Target: ratio >= 100.

Before both, ``dnsperf`` replays the same query mix through the responder (a
Python asyncio proxy) for ``--dnsperf-seconds`` at two depths of outstanding
queries, which bounds its rate to depth / delay. The better rate shows roughly
how much the responder passes on. It is no strict ceiling: when the responder
drops queries (dnsperf reports them lost), a client that retries can do better.
With
``--responders K`` the benchmark starts K - 1 more responders, also in front of
Knot with the same delay, and dnsscience spreads its queries over all of them
(the engine sends each query to the nameserver with the fewest in flight). The
baseline, which waits for every answer in turn, asks only the first.

    ./dev bench email_latency --domains 5000 --baseline-domains 200
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import baseline_emaild  # noqa: E402
from _support import BenchmarkReport, ProgressPrinter, udp_receive_buffer_errors  # noqa: E402
from query_mix import QueryMix, run_dnsperf  # noqa: E402

TARGET_RATIO = 100.0


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--domains", type=int, default=5000, help="domains checked by dnsscience (5000)"
    )
    parser.add_argument(
        "--baseline-domains",
        type=int,
        default=200,
        help="domains checked by the baseline, the first of the same list (200)",
    )
    parser.add_argument(
        "--delay-ms", type=float, default=30.0, help="delay of every DNS answer in ms (30)"
    )
    parser.add_argument(
        "--concurrency", type=int, default=500, help="domains dnsscience checks at once (500)"
    )
    parser.add_argument(
        "--max-inflight-per-nameserver",
        type=int,
        default=None,
        help="dnsscience's cap on queries in flight to one nameserver "
        "(default: the library's DEFAULT_INFLIGHT_PER_NAMESERVER)",
    )
    parser.add_argument(
        "--min-inflight-per-nameserver",
        type=int,
        default=None,
        help="where dnsscience's adaptive in-flight limit starts, and its floor "
        "(default: the library's DEFAULT_MIN_INFLIGHT_PER_NAMESERVER)",
    )
    parser.add_argument(
        "--responders",
        type=int,
        default=1,
        help="responder processes dnsscience queries, each one CPU-bound Python process (1)",
    )
    parser.add_argument("--seed", type=int, default=1, help="zone generator seed (1)")
    parser.add_argument(
        "--dnsperf-seconds",
        type=float,
        default=10.0,
        help="duration of the dnsperf run against the responder in seconds, 0 to skip (10)",
    )
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON to PATH")
    arguments = parser.parse_args()
    if arguments.domains < 1 or arguments.baseline_domains < 1 or arguments.responders < 1:
        parser.error("--domains, --baseline-domains and --responders must be at least 1")
    if arguments.baseline_domains > arguments.domains:
        parser.error(
            f"--baseline-domains {arguments.baseline_domains} exceeds --domains "
            f"{arguments.domains}: the baseline checks a prefix of the same list"
        )
    return arguments


def start_extra_responders(bed, count: int, delay_ms: float) -> list:
    """Start ``count`` more responders in front of the bed's Knot; the caller stops them."""
    from dnsscience.testbed.responder import Responder

    responders = []
    try:
        for number in range(count):
            responder = Responder(
                bed.workdir / f"responder-extra-{number}",
                upstream=bed.nameserver,
                delay_ms=delay_ms,
            )
            responder.start()
            responders.append(responder)
    except BaseException:
        for responder in responders:
            responder.stop()
        raise
    return responders


def run_ours(
    report: BenchmarkReport,
    domains: list[str],
    nameservers: list[str],
    concurrency: int,
    cap: int | None,
    floor: int | None,
):
    from dnsscience.email import (
        DEFAULT_INFLIGHT_PER_NAMESERVER,
        DEFAULT_MIN_INFLIGHT_PER_NAMESERVER,
        check_email_many,
    )

    cap = DEFAULT_INFLIGHT_PER_NAMESERVER if cap is None else cap
    floor = min(cap, DEFAULT_MIN_INFLIGHT_PER_NAMESERVER if floor is None else floor)
    # At most cap queries wait for one nameserver's delayed answers at a time, so
    # its rate is at most cap / delay.
    report.measure("ours_max_inflight_per_nameserver", cap)
    report.measure("ours_min_inflight_per_nameserver", floor)

    print(
        f"dnsscience: {len(domains)} domains, concurrency {concurrency}, "
        f"nameservers {', '.join(nameservers)}",
        flush=True,
    )
    drops_before = udp_receive_buffer_errors()
    started = time.monotonic()
    results = list(
        check_email_many(
            domains,
            nameservers=nameservers,
            concurrency=concurrency,
            max_inflight_per_nameserver=cap,
            min_inflight_per_nameserver=floor,
            progress=ProgressPrinter("dnsscience"),
        )
    )
    elapsed = time.monotonic() - started
    report.measure("ours_udp_receive_buffer_drops", udp_receive_buffer_errors() - drops_before)
    incomplete = sum(1 for result in results if not result.complete)
    report.measure("ours_domains", len(results))
    report.measure("ours_seconds", elapsed, "s")
    report.measure("ours_domains_per_second", len(results) / elapsed, "domains/s")
    report.measure("ours_incomplete_results", incomplete)
    return {result.domain: result for result in results}


def run_baseline(report: BenchmarkReport, domains: list[str], nameserver: str):
    address, port = baseline_emaild.parse_nameserver(nameserver)
    print(f"baseline (dnspython, sequential): {len(domains)} domains", flush=True)
    started = time.monotonic()
    rows = baseline_emaild.check_domains(
        domains, address, port, progress=ProgressPrinter("baseline", interval=10.0)
    )
    elapsed = time.monotonic() - started
    report.measure("baseline_domains", len(rows))
    report.measure("baseline_seconds", elapsed, "s")
    report.measure("baseline_domains_per_second", len(rows) / elapsed, "domains/s")
    return {row["domain"]: row for row in rows}


def compare_results(report: BenchmarkReport, ours: dict, baseline: dict) -> None:
    """Count domains where the two disagree on has_mx, has_spf or has_dmarc.

    Both must have done the same lookups for the speed comparison to mean anything.
    DKIM is left out because the two probe different selector lists and the
    original counts any TXT answer as a key.
    """
    disagreements = 0
    for domain, row in baseline.items():
        result = ours.get(domain)
        if result is None:
            disagreements += 1
            continue
        for column in ("has_mx", "has_spf", "has_dmarc"):
            if getattr(result, column) != row[column]:
                disagreements += 1
                break
    report.measure("domains_where_ours_and_baseline_disagree", disagreements)


def main() -> int:
    arguments = parse_arguments()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    from dnsscience.email import DEFAULT_DKIM_SELECTORS
    from dnsscience.testbed import TestBed

    report = BenchmarkReport("email_latency")
    report.print_machine()
    report.measure("delay_ms", arguments.delay_ms, "ms")
    print(f"starting the test bed with {arguments.domains} generated domains", flush=True)
    with TestBed(
        domains=arguments.domains,
        seed=arguments.seed,
        delay_ms=arguments.delay_ms,
        responder=True,
        hard_cases=False,
        corpus=False,
    ) as bed:
        nameserver = bed.responder_nameserver
        domains = list(bed.domains)
        print(f"responder on {nameserver}, delaying every answer by {arguments.delay_ms} ms")

        if arguments.dnsperf_seconds > 0:
            mix = QueryMix(bed.manifest, bed.nameserver, DEFAULT_DKIM_SELECTORS)
            input_path = bed.workdir / "dnsperf-queries.txt"
            queries = mix.write_dnsperf_input(input_path, domains)
            report.measure("mix_queries_per_domain", queries / len(domains))
            # dnsperf's rate is at most outstanding / delay: 10,000 and 30,000
            # queries per second at these depths.
            delay_seconds = arguments.delay_ms / 1000
            depths = [max(100, int(10_000 * delay_seconds)), max(300, int(30_000 * delay_seconds))]
            best = run_dnsperf(report, nameserver, input_path, arguments.dnsperf_seconds, depths)
            if best:
                report.measure(
                    "dnsperf_through_responder_domains_per_second",
                    best / (queries / len(domains)),
                    "domains/s",
                )

        extra = start_extra_responders(bed, arguments.responders - 1, arguments.delay_ms)
        try:
            nameservers = [nameserver] + [responder.nameserver for responder in extra]
            report.measure("responders", len(nameservers))
            ours = run_ours(
                report,
                domains,
                nameservers,
                arguments.concurrency,
                arguments.max_inflight_per_nameserver,
                arguments.min_inflight_per_nameserver,
            )
            baseline = run_baseline(report, domains[: arguments.baseline_domains], nameserver)
        finally:
            for responder in extra:
                responder.stop()
        compare_results(report, ours, baseline)

    ratio = (
        report.measurements["ours_domains_per_second"]
        / report.measurements["baseline_domains_per_second"]
    )
    report.measure("ratio", ratio, "x")
    report.target("domains/s ours / baseline", ratio, TARGET_RATIO, higher_is_better=True)
    return report.finish(arguments.json)


if __name__ == "__main__":
    raise SystemExit(main())
