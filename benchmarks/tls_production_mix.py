"""TLS scanning of a production-like target mix: dnsscience versus the original scanner.

The original scanner found a certificate on about 1.2 % of the domains it tried;
the rest refused the connection or never answered. This benchmark builds
``--targets`` loopback targets in that proportion, shuffled with a fixed seed:

- serving (``--serving-fraction``, 0.012): the certificate cases of the TLS test
  bed (nginx on ``127.44.3.x``), reached by address with the case name as SNI;
- silent (``--silent-fraction``, 0.2): each on its own ``127.46.x.y`` address,
  where a listening socket with a full accept queue never accepts, so the kernel
  drops every SYN and the client's connect times out;
- refused: the rest, each on its own ``127.47.x.y`` address with nothing bound,
  so the kernel answers with a RST.

It scans all targets with ``dnsscience.tls.scan_tls_many`` (``--concurrency``
handshakes and ``--max-connections`` targets at once, connect and handshake
deadline 3 s as in the scanner daemon) and the first
``--baseline-targets`` with the original scanner's logic
(``baseline_ssl_scanner.py``, 50 threads, 5 s connect timeout), checks that every
target got an outcome of the expected kind, and prints targets per second and
their ratio. Target: ratio >= 20. The ratio depends on the silent fraction,
because a silent target costs the connect timeout (3 s ours, 5 s the original's).

    ./dev bench tls_production_mix --targets 10000
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import resource
import socket
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _support import BenchmarkReport, ProgressPrinter  # noqa: E402

try:
    import baseline_ssl_scanner
except ImportError as error:
    raise SystemExit(
        f"the baseline scanner needs the cryptography package ({error}): install it into "
        "this virtual environment, e.g. .venv/bin/pip install cryptography"
    ) from error

TARGET_RATIO = 20.0
#: Connect and handshake deadline of our probes, in seconds: the scanner daemon's.
OURS_TIMEOUT = 3.0
SILENT_PREFIX = "127.46."
REFUSED_PREFIX = "127.47."
KINDS = ("serving", "silent", "refused")


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", type=int, default=10_000, help="targets in the mix (10000)")
    parser.add_argument(
        "--baseline-targets",
        type=int,
        default=None,
        help="targets scanned by the baseline, a prefix of the shuffled mix (all)",
    )
    parser.add_argument(
        "--serving-fraction", type=float, default=0.012, help="share that serves TLS (0.012)"
    )
    parser.add_argument(
        "--silent-fraction", type=float, default=0.2, help="share that never responds (0.2)"
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        default=500,
        help="handshakes dnsscience runs at once (500, the default of the library and "
        "of SSL_SCANNER_WORKERS)",
    )
    parser.add_argument(
        "--max-connections",
        type=int,
        default=None,
        help="targets in progress at once, TCP connects included (the library's default, "
        "4 x --concurrency)",
    )
    parser.add_argument("--seed", type=int, default=1, help="shuffle seed (1)")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON to PATH")
    arguments = parser.parse_args()
    if arguments.targets < 1:
        parser.error("--targets must be at least 1")
    if arguments.baseline_targets is None:
        arguments.baseline_targets = arguments.targets
    if not 1 <= arguments.baseline_targets <= arguments.targets:
        parser.error(f"--baseline-targets must be between 1 and --targets ({arguments.targets})")
    fractions = arguments.serving_fraction + arguments.silent_fraction
    if arguments.serving_fraction < 0 or arguments.silent_fraction < 0 or fractions > 1:
        parser.error("the serving and silent fractions must be >= 0 and add up to at most 1")
    return arguments


def loopback_address(prefix: str, index: int) -> str:
    """Return the ``index``-th address under a /16 prefix, skipping .0 and .255 hosts."""
    high, low = divmod(index, 254)
    if high > 255:
        raise ValueError(f"target index {index} does not fit in {prefix}0.0/16")
    return f"{prefix}{high}.{low + 1}"


class SilentListeners:
    """Listening sockets whose accept queue is full, so connects to them time out.

    With ``listen(0)`` Linux queues one connection, and two filler connections
    made here occupy the queue. The listener never accepts, so the kernel drops
    every later SYN and a client's connect waits until its own timeout.
    """

    def __init__(self, addresses: list[str], port: int) -> None:
        self.addresses = addresses
        self.port = port
        self._sockets: list[socket.socket] = []

    def __enter__(self) -> SilentListeners:
        try:
            for address in self.addresses:
                listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                self._sockets.append(listener)
                listener.bind((address, self.port))
                listener.listen(0)
                for _ in range(2):
                    filler = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                    self._sockets.append(filler)
                    filler.setblocking(False)
                    filler.connect_ex((address, self.port))
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        for item in self._sockets:
            item.close()
        self._sockets = []


def build_targets(arguments: argparse.Namespace, serving_cases: list) -> list[dict]:
    """Return the shuffled target list as dicts with name, address, port and kind."""
    serving = round(arguments.targets * arguments.serving_fraction)
    silent = round(arguments.targets * arguments.silent_fraction)
    refused = arguments.targets - serving - silent
    targets = []
    for index in range(serving):
        case = serving_cases[index % len(serving_cases)]
        targets.append(
            {"name": case.name, "address": case.address, "port": case.port, "kind": "serving"}
        )
    for index in range(silent):
        address = loopback_address(SILENT_PREFIX, index)
        targets.append(
            {"name": f"silent-{index}.test", "address": address, "port": 0, "kind": "silent"}
        )
    for index in range(refused):
        address = loopback_address(REFUSED_PREFIX, index)
        targets.append(
            {"name": f"refused-{index}.test", "address": address, "port": 0, "kind": "refused"}
        )
    random.Random(arguments.seed).shuffle(targets)
    return targets


def free_port_on(addresses: list[str]) -> int:
    """Return a TCP port that is free on the first of ``addresses`` (checked on bind)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as chooser:
        chooser.bind((addresses[0] if addresses else "127.46.0.1", 0))
        return chooser.getsockname()[1]


def ours_kind(result) -> str:
    """Classify one ``TlsResult`` as serving, silent, refused or other."""
    if result.status != "failed":
        return "serving"
    reason = result.error.reason if result.error is not None else None
    if reason == "connect_timeout":
        return "silent"
    if reason == "connection_refused":
        return "refused"
    return f"other:{reason}"


def baseline_kind(outcome: dict) -> str:
    """Classify one baseline outcome as serving, silent, refused or other."""
    if outcome.get("status") == "certificate":
        return "serving"
    error = outcome.get("error", "")
    if error.startswith(("TimeoutError", "timeout")):
        return "silent"
    if error.startswith("ConnectionRefusedError"):
        return "refused"
    return f"other:{error[:60]}"


def tally(report: BenchmarkReport, prefix: str, expected: list[str], observed: list[str]) -> None:
    """Record outcomes by kind and the number of targets whose outcome was not the expected one."""
    report.measure(f"{prefix}_outcomes", dict(Counter(observed)))
    mismatches = abs(len(expected) - len(observed))
    pairs = zip(expected, observed, strict=False)
    mismatches += sum(1 for want, got in pairs if want != got)
    report.measure(f"{prefix}_unexpected_outcomes", mismatches)


def run_ours(
    report: BenchmarkReport,
    targets: list[dict],
    ca_file: Path,
    concurrency: int,
    max_connections: int | None,
) -> None:
    from dnsscience.tls import default_max_connections, scan_tls_many

    if max_connections is None:
        max_connections = default_max_connections(concurrency)

    items = [
        json.dumps({"host": target["address"], "port": target["port"], "sni": target["name"]})
        for target in targets
    ]
    print(
        f"dnsscience: {len(items)} targets, {concurrency} handshakes and "
        f"{max_connections} targets at once",
        flush=True,
    )
    report.measure("ours_max_handshakes", concurrency)
    report.measure("ours_max_connections", max_connections)
    started = time.monotonic()
    results = list(
        scan_tls_many(
            items,
            ca_file=str(ca_file),
            timeout=OURS_TIMEOUT,
            concurrency=concurrency,
            max_connections=max_connections,
            progress=ProgressPrinter("dnsscience"),
        )
    )
    elapsed = time.monotonic() - started
    report.measure("ours_targets", len(results))
    report.measure("ours_seconds", elapsed, "s")
    report.measure("ours_targets_per_second", len(results) / elapsed, "targets/s")

    kinds_by_target = {
        (result.host, result.port, result.sni): ours_kind(result) for result in results
    }
    observed = [
        kinds_by_target.get((target["address"], target["port"], target["name"]), "missing")
        for target in targets
    ]
    tally(report, "ours", [target["kind"] for target in targets], observed)


def run_baseline(report: BenchmarkReport, targets: list[dict]) -> None:
    print(
        f"baseline (Python ssl, {baseline_ssl_scanner.WORKERS} threads): {len(targets)} targets",
        flush=True,
    )
    items = [
        baseline_ssl_scanner.Target(target["name"], target["address"], target["port"])
        for target in targets
    ]
    started = time.monotonic()
    outcomes = baseline_ssl_scanner.scan_many(items, progress=ProgressPrinter("baseline", 10.0))
    elapsed = time.monotonic() - started
    report.measure("baseline_targets", len(outcomes))
    report.measure("baseline_seconds", elapsed, "s")
    report.measure("baseline_targets_per_second", len(outcomes) / elapsed, "targets/s")
    observed = [baseline_kind(outcome) for outcome in outcomes]
    tally(report, "baseline", [target["kind"] for target in targets], observed)


def main() -> int:
    arguments = parse_arguments()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    from dnsscience.testbed.tls import TlsTestBed

    report = BenchmarkReport("tls_production_mix")
    report.print_machine()
    # One descriptor per silent listener and two per filler, plus the scanners' sockets.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = min(hard, max(soft, arguments.targets * 3 + 4096))
    resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))

    print("starting the TLS test bed", flush=True)
    with TlsTestBed() as bed:
        serving_cases = [
            target
            for target in bed.targets
            if target.address is not None
            and not target.is_ip_literal
            and target.starttls == "none"
            and target.expected.status != "failed"
        ]
        targets = build_targets(arguments, serving_cases)
        silent_addresses = [t["address"] for t in targets if t["kind"] == "silent"]
        port = free_port_on(silent_addresses)
        for target in targets:
            if target["kind"] != "serving":
                target["port"] = port
        counts = Counter(target["kind"] for target in targets)
        report.measure("mix", {kind: counts.get(kind, 0) for kind in KINDS})
        report.measure("serving_cases", len(serving_cases))

        with SilentListeners(silent_addresses, port):
            run_ours(
                report, targets, bed.ca_file, arguments.concurrency, arguments.max_connections
            )
            run_baseline(report, targets[: arguments.baseline_targets])

    ratio = (
        report.measurements["ours_targets_per_second"]
        / report.measurements["baseline_targets_per_second"]
    )
    report.measure("ratio", ratio, "x")
    report.target("targets/s ours / baseline", ratio, TARGET_RATIO, higher_is_better=True)
    report.target(
        "targets without the expected outcome, ours",
        report.measurements["ours_unexpected_outcomes"],
        1,
        higher_is_better=False,
    )
    return report.finish(arguments.json)


if __name__ == "__main__":
    raise SystemExit(main())
