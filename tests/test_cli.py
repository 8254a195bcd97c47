"""Tests of the dnsscience command line as a user runs it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dnsscience

# The installed console script, as a user runs it.
CLI = [str(Path(sys.executable).parent / "dnsscience")]


def _run(*arguments: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *arguments], capture_output=True, text=True, timeout=120,
                          **kwargs)


def test_version_flag():
    completed = _run("--version")
    assert completed.returncode == 0
    assert dnsscience.__version__ in completed.stdout


def test_email_json_lines(dns_testbed):
    completed = _run("email", "mx-null.hard.test", "spf-plus-all.hard.test",
                     "--nameserver", dns_testbed.nameserver, "--json")
    assert completed.returncode == 0, completed.stderr
    lines = [json.loads(line) for line in completed.stdout.splitlines()]
    assert {line["domain"] for line in lines} == {"mx-null.hard.test", "spf-plus-all.hard.test"}
    null_mx = next(line for line in lines if line["domain"] == "mx-null.hard.test")
    assert null_mx["null_mx"] is True
    assert null_mx["has_mx"] is False


def test_email_table_output(dns_testbed):
    completed = _run("email", "spf-plus-all.hard.test", "--nameserver", dns_testbed.nameserver)
    assert completed.returncode == 0, completed.stderr
    assert "SPF:" in completed.stdout
    assert "+all" in completed.stdout


def test_email_invalid_name_exit_status(dns_testbed):
    completed = _run("email", "exa mple.com", "--nameserver", dns_testbed.nameserver)
    assert completed.returncode == 1
    assert "exa mple.com" in completed.stdout


def test_email_incomplete_exit_status(responder):
    completed = _run("email", "timeout.responder.test", "--nameserver", responder.nameserver,
                     "--timeout", "0.5")
    assert completed.returncode == 1
    assert "timeout" in completed.stdout


def test_bad_nameserver_is_usage_error():
    completed = _run("email", "example.test", "--nameserver", "not-an-address:xx")
    assert completed.returncode == 2
    assert "not-an-address:xx" in completed.stderr


def test_ctrl_c_stops_batch_quickly(dns_testbed, responder):
    # 3000 domains behind a responder whose subtree never answers would take minutes.
    names = [f"host{i}.timeout.test" for i in range(3000)]
    process = subprocess.Popen(
        [*CLI, "email", *names, "--nameserver", responder.nameserver, "--json"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        env={**os.environ},
    )
    time.sleep(1.5)
    sent = time.monotonic()
    process.send_signal(signal.SIGINT)
    process.wait(timeout=10)
    assert process.returncode == 130
    assert time.monotonic() - sent < 2.0
