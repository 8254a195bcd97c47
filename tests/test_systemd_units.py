"""Tests of the systemd units in systemd/: content checks and ``systemd-analyze verify``."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dnsscience.daemons.runtime import DRAIN_SECONDS, EXIT_CONFIGURATION, EXIT_SCHEMA

ROOT = Path(__file__).resolve().parent.parent
UNIT_DIR = ROOT / "systemd"
VENV_BIN = "/opt/dnsscience/venv/bin/"

#: Unit name, console script it runs, name in its log and pid files.
UNITS = {
    "email-validator.service": ("dnsscience-emaild", "dnsscience_emaild"),
    "ssl-scanner.service": ("dnsscience-ssl-scanner", "dnsscience_ssl_scanner"),
    "ssl-monitor.service": ("dnsscience-ssl-monitord", "dnsscience_ssl_monitord"),
}

SECRET_PATTERNS = [
    re.compile(r"password", re.IGNORECASE),
    re.compile(r"postgres(ql)?://[^\s/@]*:[^\s/@]*@"),
    re.compile(r"\bPG[A-Z]+="),
]


def parse_unit(path: Path) -> dict[str, list[tuple[str, str]]]:
    """Return each section's (key, value) pairs in order, continuation lines joined."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] | None = None
    pending = ""
    for raw in path.read_text().splitlines():
        line = pending + raw.strip() if pending else raw.strip()
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        pending = ""
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], [])
            continue
        assert current is not None, f"{path.name}: setting outside a section: {line}"
        key, _, value = line.partition("=")
        current.append((key.strip(), " ".join(value.split())))
    return sections


def values(unit: dict[str, list[tuple[str, str]]], section: str, key: str) -> list[str]:
    return [value for name, value in unit.get(section, []) if name == key]


def single(unit: dict[str, list[tuple[str, str]]], section: str, key: str) -> str:
    found = values(unit, section, key)
    assert len(found) == 1, f"expected one {key}= in [{section}], found {found}"
    return found[0]


def seconds(text: str) -> float:
    """Convert a systemd time span such as ``45``, ``45s`` or ``1min 30s`` to seconds."""
    units = {"": 1, "s": 1, "sec": 1, "min": 60, "m": 60, "h": 3600}
    total = 0.0
    for number, unit in re.findall(r"(\d+(?:\.\d+)?)\s*([a-z]*)", text):
        total += float(number) * units[unit]
    return total


@pytest.fixture(params=sorted(UNITS), ids=lambda name: name)
def unit_case(request):
    name = request.param
    script, daemon_name = UNITS[name]
    return name, parse_unit(UNIT_DIR / name), script, daemon_name


def test_unit_files_exist():
    present = sorted(path.name for path in UNIT_DIR.glob("*.service"))
    assert present == sorted(UNITS)


def test_unit_restarts_on_failure_only(unit_case):
    _name, unit, _script, _daemon = unit_case
    assert single(unit, "Service", "Restart") == "on-failure"
    prevented = set(single(unit, "Service", "RestartPreventExitStatus").split())
    assert prevented == {str(EXIT_CONFIGURATION), str(EXIT_SCHEMA)}


def test_unit_stop_timeout_exceeds_drain(unit_case):
    _name, unit, _script, _daemon = unit_case
    timeout = seconds(single(unit, "Service", "TimeoutStopSec"))
    assert timeout > DRAIN_SECONDS + 10


def test_unit_reads_environment_file(unit_case):
    name, unit, _script, _daemon = unit_case
    files = values(unit, "Service", "EnvironmentFile")
    assert "/etc/dnsscience/dnsscience.env" in files
    assert "-/etc/dnsscience/%N.env" in files


def test_unit_contains_no_secret(unit_case):
    name, _unit, _script, _daemon = unit_case
    settings = [
        line
        for line in (UNIT_DIR / name).read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    for line in settings:
        for pattern in SECRET_PATTERNS:
            assert not pattern.search(line), f"{name}: possible secret in {line!r}"


def test_unit_open_file_limit(unit_case):
    _name, unit, _script, _daemon = unit_case
    assert int(single(unit, "Service", "LimitNOFILE")) >= 65536


def test_unit_hardening(unit_case):
    _name, unit, _script, _daemon = unit_case
    expected = {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "PrivateDevices": "yes",
        "CapabilityBoundingSet": "",
        "RestrictSUIDSGID": "yes",
    }
    for key, value in expected.items():
        assert single(unit, "Service", key) == value, key
    assert single(unit, "Service", "User") == "dnsscience"
    families = single(unit, "Service", "RestrictAddressFamilies").split()
    assert {"AF_INET", "AF_INET6", "AF_UNIX"} <= set(families)


def test_unit_runs_console_script(unit_case):
    _name, unit, script, daemon_name = unit_case
    command = single(unit, "Service", "ExecStart").split()
    assert command[0] == VENV_BIN + script
    arguments = dict(zip(command[1::2], command[2::2], strict=True))
    assert arguments["--log-file"] == f"/var/log/dnsscience/{daemon_name}.log"
    assert arguments["--pid-file"] == f"/run/dnsscience/{daemon_name}.pid"


def test_unit_log_and_pid_directories_writable(unit_case):
    # Under ProtectSystem=strict these are writable only because systemd creates them.
    _name, unit, _script, _daemon = unit_case
    assert single(unit, "Service", "LogsDirectory") == "dnsscience"
    assert single(unit, "Service", "RuntimeDirectory") == "dnsscience"
    assert single(unit, "Service", "RuntimeDirectoryPreserve") == "yes"


def test_units_use_distinct_metrics_ports():
    ports = []
    for name in UNITS:
        unit = parse_unit(UNIT_DIR / name)
        environment = dict(item.split("=", 1) for item in values(unit, "Service", "Environment"))
        ports.append(int(environment["DNSSCIENCE_METRICS_PORT"]))
    assert len(set(ports)) == len(ports)
    assert all(1024 < port < 65536 for port in ports)


def test_console_scripts_are_declared():
    tomllib = pytest.importorskip("tomllib", reason="tomllib needs Python 3.11")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    declared = project["project"]["scripts"]
    for script, _daemon in UNITS.values():
        assert script in declared


@pytest.mark.parametrize("name", sorted(UNITS))
def test_console_script_accepts_unit_options(name):
    script, _daemon = UNITS[name]
    installed = Path(sys.executable).parent / script
    assert installed.exists(), f"{script} is not installed next to {sys.executable}"
    result = subprocess.run([str(installed), "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "--log-file" in result.stdout
    assert "--pid-file" in result.stdout


def test_systemd_analyze_verify(tmp_path):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (Debian package systemd)")

    # verify checks that ExecStart names an executable file, so point it at the
    # scripts installed with this test run instead of /opt/dnsscience/venv.
    for name, (script, _daemon) in UNITS.items():
        text = (UNIT_DIR / name).read_text()
        installed = Path(sys.executable).parent / script
        (tmp_path / name).write_text(text.replace(VENV_BIN + script, str(installed)))

    result = subprocess.run(
        [analyze, "verify", *(str(tmp_path / name) for name in sorted(UNITS))],
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = result.stdout + result.stderr
    if result.returncode != 0 and "Failed to initialize manager" in output:
        pytest.skip(f"systemd-analyze cannot run in this container: {output.strip()}")

    # verify exits 0 even for unknown keys; it only prints them.
    about_units = [
        line
        for line in output.splitlines()
        if str(tmp_path) in line or any(name in line for name in UNITS)
    ]
    assert result.returncode == 0, output
    assert about_units == []


def test_example_environment_file_is_valid():
    from dnsscience.config import Settings, parse_env_file

    example = UNIT_DIR / "dnsscience.env.example"
    settings = Settings.from_environment(env={}, env_file=example)

    assert settings.database_source == "DATABASE_URL"
    assert settings.metrics_port == 0
    assert "DNSSCIENCE_METRICS_PORT" not in parse_env_file(example)
