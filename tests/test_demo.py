"""The demo as a user runs it: a small test bed, the whole path, a report."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

DNSSCIENCE = str(Path(sys.executable).parent / "dnsscience")


def test_demo_prints_report():
    completed = subprocess.run([DNSSCIENCE, "demo", "--domains", "300", "--seed", "5"],
                               capture_output=True, text=True, timeout=600)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    output = completed.stdout
    assert "Email security" in output
    assert "Coverage (share of checked domains)" in output
    assert "Findings by code" in output
    assert "spf.multiple_records" in output
    assert "Lookup failures by kind" in output
    assert "TLS certificates" in output
    assert "Failures by reason" in output
    assert "Stopped the test bed." in output
