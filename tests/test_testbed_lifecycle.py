"""Tests that the test bed stops everything it starts and removes its folder."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dnsscience.testbed import TestBed
from dnsscience.testbed.network import probe_dns


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _wait_until_gone(pids: list[int], timeout: float) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = [pid for pid in pids if _process_exists(pid)]
        if not alive:
            return []
        time.sleep(0.1)
    return [pid for pid in pids if _process_exists(pid)]


def test_testbed_stop_ends_servers(tmp_path: Path) -> None:
    with TestBed(domains=50, seed=2, responder=True, corpus=False) as bed:
        workdir = bed.workdir
        pids = [bed.knot.pid, bed.responder.pid]
        port = bed.knot.port
        assert probe_dns("127.0.0.1", port, "alpha.test") == 0

    assert _wait_until_gone(pids, 5.0) == []
    assert not workdir.exists()
    assert bed.nameserver is None
    assert probe_dns("127.0.0.1", port, "alpha.test", timeout=0.3) is None


def test_testbed_stops_after_exception() -> None:
    bed = TestBed(domains=20, seed=2, corpus=False)
    with pytest.raises(KeyError):
        with bed:
            pid = bed.knot.pid
            raise KeyError("raised inside the with block")

    assert _wait_until_gone([pid], 5.0) == []


def test_testbed_rejects_unbound_without_dns() -> None:
    with pytest.raises(ValueError, match="dns=True"):
        TestBed(dns=False, unbound=True)


def test_testbed_cli_stops_on_sigterm(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "dnsscience.testbed", "--domains", "50", "--responder"]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=tmp_path
    )
    try:
        lines = []
        for line in process.stdout:
            lines.append(line)
            if line.startswith("Press Ctrl-C"):
                break
        addresses = dict(line.split(":", 1) for line in lines if ":" in line)
        knot_port = int(addresses["Knot (authoritative)"].strip().rsplit(":", 1)[1])
        manifest = Path(addresses["manifest"].strip())
        assert manifest.exists()
        assert probe_dns("127.0.0.1", knot_port, "alpha.test") == 0

        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 128 + signal.SIGTERM
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    assert not manifest.exists()
    assert probe_dns("127.0.0.1", knot_port, "alpha.test", timeout=0.3) is None
