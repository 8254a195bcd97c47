"""Shared helpers of the benchmarks: machine description, timing, verdicts, results.

Every benchmark prints the machine it ran on (CPU, cores, memory, load, Debian and
library versions), its measurements, one PASS/FAIL line per target, and with
``--json PATH`` also writes them as JSON for ``docs/benchmarks.md``.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "BenchmarkReport",
    "CpuMeter",
    "ProcessRun",
    "ProgressPrinter",
    "daemon_command",
    "daemon_environment",
    "load_domains",
    "machine_description",
    "migrate",
    "run_process",
    "udp_receive_buffer_errors",
]

# Debian packages whose versions matter to a result.
_PACKAGES = (
    "libc-ares2",
    "libpqxx-6.4",
    "libpqxx-7.10",
    "libssl3",
    "libssl3t64",
    "knot",
    "dnsperf",
    "nginx-light",
    "openssl",
    "postgresql",
)


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def _cpu_model() -> str:
    match = re.search(r"^model name\s*:\s*(.+)$", _read("/proc/cpuinfo"), re.MULTILINE)
    return match.group(1).strip() if match else platform.processor() or "unknown"


def _memory(field_name: str) -> str:
    """Return a /proc/meminfo field (MemTotal, MemAvailable) in GiB, as free -h shows it."""
    match = re.search(rf"^{field_name}:\s*(\d+) kB", _read("/proc/meminfo"), re.MULTILINE)
    return f"{int(match.group(1)) / 1024 / 1024:.1f} GiB" if match else "unknown"


def _package_versions() -> dict[str, str]:
    if shutil.which("dpkg-query") is None:
        return {}
    versions = {}
    for package in _PACKAGES:
        completed = subprocess.run(
            ["dpkg-query", "-W", "-f=${Status}|${Version}", package],
            capture_output=True,
            text=True,
            check=False,
        )
        status, _, version = completed.stdout.partition("|")
        if completed.returncode == 0 and "install ok installed" in status:
            versions[package] = version
    return versions


def _python_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    try:
        import dnsscience

        versions["dnsscience"] = dnsscience.__version__
    except ImportError as error:
        versions["dnsscience"] = f"not importable ({error})"
    try:
        import dns.version

        versions["dnspython"] = dns.version.version
    except ImportError:
        pass
    return versions


def load_average() -> tuple[float, float, float]:
    """Return the 1, 5 and 15 minute load averages."""
    return os.getloadavg()


def udp_receive_buffer_errors() -> int:
    """Return the host's count of UDP datagrams dropped for a full receive buffer.

    The counter (``RcvbufErrors`` in /proc/net/snmp) covers every socket on the
    host, so a delta around a run also counts other programs' drops.
    """
    lines = [
        line.split() for line in _read("/proc/net/snmp").splitlines() if line.startswith("Udp:")
    ]
    if len(lines) < 2:
        return 0
    counters = dict(zip(lines[0][1:], lines[1][1:], strict=True))
    return int(counters.get("RcvbufErrors", 0))


def _process_cpu_seconds(comm: str) -> float:
    """Return the CPU seconds of every process named ``comm``, with their reaped children."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                text = stat.read()
        except OSError:
            continue
        name = text[text.index("(") + 1 : text.rindex(")")]
        if name != comm:
            continue
        fields = text[text.rindex(")") + 2 :].split()
        # utime, stime, cutime and cstime are fields 14 to 17 of proc(5).
        total += sum(int(value) for value in fields[11:15])
    return total / ticks


class CpuMeter:
    """CPU use over an interval: the whole host's, and by process name.

    The host figure comes from /proc/stat: the share of all CPUs that was not
    idle or waiting for I/O. The per-name figures add the CPU time of every
    process with that name, including children it has reaped, so PostgreSQL
    backends that exit count under their postmaster.
    """

    def __init__(self, names: Sequence[str] = ()) -> None:
        self.names = list(names)
        self._host = self._host_ticks()
        self._by_name = {name: _process_cpu_seconds(name) for name in self.names}
        self._started = time.monotonic()

    @staticmethod
    def _host_ticks() -> tuple[int, int]:
        fields = [int(value) for value in _read("/proc/stat").splitlines()[0].split()[1:]]
        idle = fields[3] + fields[4]
        return sum(fields[:8]) - idle, sum(fields[:8])

    def report(self, report: BenchmarkReport, prefix: str) -> None:
        """Record the host's busy share and each name's cores in use since construction."""
        busy_before, total_before = self._host
        busy_after, total_after = self._host_ticks()
        elapsed = time.monotonic() - self._started
        if total_after > total_before:
            share = (busy_after - busy_before) / (total_after - total_before)
            report.measure(f"{prefix}_host_cpu_busy_percent", 100.0 * share, "%")
        for name in self.names:
            seconds = _process_cpu_seconds(name) - self._by_name[name]
            report.measure(f"{prefix}_cpu_cores_{name}", seconds / elapsed if elapsed else 0.0)


def source_revision() -> str:
    """Return the checked-out commit of this repository, with "+changes" when the tree differs."""
    root = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        changed = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{commit}+changes" if changed else commit


def machine_description() -> dict[str, Any]:
    """Describe the host as ``nproc``, ``free -h``, /proc/cpuinfo and dpkg report it."""
    return {
        "cpu_model": _cpu_model(),
        "nproc": os.cpu_count(),
        "memory_total": _memory("MemTotal"),
        "memory_available": _memory("MemAvailable"),
        "debian_version": _read("/etc/debian_version").strip() or "unknown",
        "kernel": platform.release(),
        "source_revision": source_revision(),
        "load_average_at_start": [round(value, 2) for value in load_average()],
        "packages": _package_versions(),
        "python_packages": _python_versions(),
    }


@dataclass
class ProcessRun:
    """Outcome of :func:`run_process`: exit status, wall time, peak memory, CPU time.

    ``max_rss_mib`` is the child's own peak RSS (``VmHWM`` of its address space,
    last read at most ``SAMPLE_SECONDS`` before it exited). ``wait4_max_rss_mib``
    is ``ru_maxrss`` from ``wait4()``, which Linux raises at ``exec()`` to the
    RSS of the address space the child had before, a copy of this benchmark
    process, so it overstates the child's own peak by up to this process's size.
    """

    command: list[str]
    returncode: int
    elapsed_seconds: float
    max_rss_mib: float
    wait4_max_rss_mib: float
    user_seconds: float
    system_seconds: float


#: Interval between reads of the child's /proc/PID/status, in seconds.
SAMPLE_SECONDS = 0.05


def _peak_rss_kib(pid: int) -> int | None:
    """Return VmHWM of ``pid`` in KiB, or None once the process has exited."""
    match = re.search(r"^VmHWM:\s*(\d+) kB", _read(f"/proc/{pid}/status"), re.MULTILINE)
    return int(match.group(1)) if match else None


def run_process(
    command: Sequence[str],
    env: dict[str, str] | None = None,
    stdout_path: Path | None = None,
    timeout: float | None = None,
) -> ProcessRun:
    """Run ``command`` to completion and return its wall time and own peak RSS.

    The peak RSS is read from the child's /proc entry while it runs, and the CPU
    times come from ``wait4()`` on this one child, so other children of the
    benchmark (servers, dnsperf) do not count. On ``timeout`` seconds the child is
    killed and the run is returned with its status.
    """
    output = open(stdout_path, "wb") if stdout_path else subprocess.DEVNULL
    try:
        started = time.monotonic()
        process = subprocess.Popen(list(command), env=env, stdout=output, stderr=subprocess.STDOUT)
        deadline = None if timeout is None else started + timeout
        peak_kib = 0
        while True:
            sampled = _peak_rss_kib(process.pid)
            if sampled is not None:
                peak_kib = max(peak_kib, sampled)
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if deadline is not None and time.monotonic() > deadline:
                process.kill()
                pid, status, usage = os.wait4(process.pid, 0)
                break
            time.sleep(SAMPLE_SECONDS)
        elapsed = time.monotonic() - started
        # Popen would otherwise wait on a pid that wait4() already reaped.
        process.returncode = os.waitstatus_to_exitcode(status)
    finally:
        if stdout_path:
            output.close()
    return ProcessRun(
        command=list(command),
        returncode=process.returncode,
        elapsed_seconds=elapsed,
        max_rss_mib=peak_kib / 1024,
        # ru_maxrss is in KiB on Linux.
        wait4_max_rss_mib=usage.ru_maxrss / 1024,
        user_seconds=usage.ru_utime,
        system_seconds=usage.ru_stime,
    )


class ProgressPrinter:
    """Print ``label: done/total`` at most every ``interval`` seconds, and at the end."""

    def __init__(self, label: str, interval: float = 5.0) -> None:
        self.label = label
        self.interval = interval
        self.started = time.monotonic()
        self._last = 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if done != total and now - self._last < self.interval:
            return
        self._last = now
        elapsed = now - self.started
        rate = done / elapsed if elapsed > 0 else 0.0
        print(f"  {self.label}: {done}/{total} in {elapsed:.1f} s ({rate:.1f}/s)", flush=True)


@dataclass
class BenchmarkReport:
    """Measurements, targets and verdicts of one benchmark run."""

    name: str
    command: str = field(
        default_factory=lambda: " ".join([f"benchmarks/{Path(sys.argv[0]).name}", *sys.argv[1:]])
    )
    machine: dict[str, Any] = field(default_factory=machine_description)
    measurements: dict[str, Any] = field(default_factory=dict)
    targets: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def measure(self, key: str, value: Any, unit: str = "") -> Any:
        """Record and print one measurement; return ``value``."""
        self.measurements[key] = value
        formatted = f"{value:,.1f}" if isinstance(value, float) else str(value)
        print(f"  {key}: {formatted} {unit}".rstrip(), flush=True)
        return value

    def note(self, text: str) -> None:
        self.notes.append(text)
        print(f"  note: {text}", flush=True)

    def target(
        self, name: str, value: float | None, threshold: float, higher_is_better: bool
    ) -> bool:
        """Compare ``value`` with ``threshold``, print PASS or FAIL, and record it.

        A missing value (the measurement could not be made) is a FAIL.
        """
        if value is None:
            passed = False
        elif higher_is_better:
            passed = value >= threshold
        else:
            passed = value < threshold
        relation = ">=" if higher_is_better else "<"
        formatted = "not measured" if value is None else f"{value:,.2f}"
        verdict = "PASS" if passed else "FAIL"
        print(f"{verdict}: {name} = {formatted} (target {relation} {threshold:g})", flush=True)
        self.targets.append(
            {
                "name": name,
                "value": value,
                "target": f"{relation} {threshold:g}",
                "verdict": verdict,
            }
        )
        return passed

    def print_machine(self) -> None:
        machine = self.machine
        load = ", ".join(str(value) for value in machine["load_average_at_start"])
        print(
            f"machine: {machine['cpu_model']}, {machine['nproc']} CPUs, "
            f"{machine['memory_total']}, Debian {machine['debian_version']}, "
            f"load average {load}",
            flush=True,
        )
        versions = {**machine["packages"], **machine["python_packages"]}
        print("versions: " + ", ".join(f"{key} {value}" for key, value in versions.items()))

    def finish(self, json_path: str | None) -> int:
        """Record the final load average, write JSON if asked; return the exit status.

        The status is 0 when every target passed, 1 otherwise.
        """
        self.machine["load_average_at_end"] = [round(value, 2) for value in load_average()]
        print(f"load average at end: {self.machine['load_average_at_end']}", flush=True)
        if json_path:
            Path(json_path).write_text(json.dumps(self.__dict__, indent=2, default=str) + "\n")
            print(f"results written to {json_path}")
        return 0 if all(item["verdict"] == "PASS" for item in self.targets) else 1


def migrate(dsn: str) -> None:
    """Apply every dnsscience migration to the database at ``dsn``."""
    from dnsscience._core import Connection
    from dnsscience.store.migrations import migrate as apply_migrations

    connection = Connection(dsn)
    try:
        apply_migrations(connection)
    finally:
        connection.close()


def load_domains(cluster: Any, dsn: str, domains: Sequence[str], workdir: Path) -> None:
    """Insert ``domains`` as active rows of the ``domains`` table with one COPY.

    ``cluster`` is the test bed's ``PostgresCluster``; the COPY data goes through
    a file in ``workdir`` that its psql client reads.
    """
    path = workdir / "domains.sql"
    with open(path, "w") as output:
        output.write("COPY domains (domain_name, is_active) FROM STDIN;\n")
        for domain in domains:
            output.write(f"{domain}\tt\n")
        output.write("\\.\n")
    cluster.run_sql_file(dsn, path)


def daemon_command(script: str, module: str) -> list[str]:
    """Return the command that starts an installed daemon, by script or by module."""
    path = Path(sys.executable).parent / script
    if path.exists():
        return [str(path)]
    return [sys.executable, "-m", module]


def daemon_environment(settings: dict[str, str]) -> dict[str, str]:
    """Return this process's environment without dnsscience settings, plus ``settings``.

    Variables of the caller's shell (``DATABASE_URL``, ``DB_*``, ``DNSSCIENCE_*``)
    would otherwise point the daemon at another database or nameserver.
    """
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DB_", "DNSSCIENCE_")) and key != "DATABASE_URL"
    }
    environment.update(settings)
    return environment
