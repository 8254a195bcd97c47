"""The original Email Validator's DNS logic, in dnspython, as a benchmark baseline.

It reproduces what the patched original daemon does per domain, one domain at a
time: a new resolver per domain with timeout = lifetime = 5 s, then 9 sequential
queries (MX, TXT at the apex, TXT at ``_dmarc``, TXT at six DKIM selectors).
Every failure (timeout, SERVFAIL, NXDOMAIN, no answer) counts as "absent", and
the SPF, DMARC and DKIM tests are the original substring tests, defects included.
Nothing is written to a database: the latency benchmark compares DNS work only.

Run on its own against a nameserver on loopback::

    python benchmarks/baseline_emaild.py --nameserver 127.0.0.1:5300 example.test
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Iterable
from typing import Any

import dns.resolver

__all__ = ["DKIM_SELECTORS", "QUERIES_PER_DOMAIN", "check_domain", "check_domains"]

#: The six selectors the original daemon probes, in its order.
DKIM_SELECTORS = ("default", "google", "selector1", "selector2", "k1", "s1")
#: MX + apex TXT + _dmarc TXT + one TXT per DKIM selector.
QUERIES_PER_DOMAIN = 3 + len(DKIM_SELECTORS)
#: The original resolver's per-try timeout and total lifetime, in seconds.
RESOLVER_TIMEOUT = 5.0


def _new_resolver(address: str, port: int) -> dns.resolver.Resolver:
    # configure=False: never read /etc/resolv.conf; only the given server is asked.
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = [address]
    resolver.port = port
    resolver.timeout = RESOLVER_TIMEOUT
    resolver.lifetime = RESOLVER_TIMEOUT
    return resolver


def _txt_strings(answer: Iterable[Any]) -> list[str]:
    # The original rebuilt the text with str(rdata).strip('"'), so a TXT record of
    # several character-strings keeps '" "' inside. Kept on purpose.
    return [str(rdata).strip('"') for rdata in answer]


def check_domain(domain: str, address: str, port: int) -> dict[str, Any]:
    """Check one domain the way the original daemon did and return its row values."""
    resolver = _new_resolver(address, port)
    row: dict[str, Any] = {
        "domain": domain,
        "has_mx": False,
        "mx_count": 0,
        "mx_records": [],
        "has_spf": False,
        "spf_record": None,
        "spf_valid": False,
        "has_dmarc": False,
        "dmarc_record": None,
        "dmarc_policy": None,
        "has_dkim": False,
        "dkim_selectors": None,
    }

    # The original swallowed every exception of every lookup with a bare except;
    # catching Exception keeps that behaviour.
    try:
        answer = resolver.resolve(domain, "MX")
        row["mx_records"] = [str(rdata.exchange).rstrip(".") for rdata in answer]
        row["mx_count"] = len(row["mx_records"])
        row["has_mx"] = row["mx_count"] > 0
    except Exception:  # noqa: BLE001
        pass

    try:
        for text in _txt_strings(resolver.resolve(domain, "TXT")):
            if text.startswith("v=spf1"):
                row["has_spf"] = True
                row["spf_record"] = text
                row["spf_valid"] = "all" in text
                break
    except Exception:  # noqa: BLE001
        pass

    try:
        for text in _txt_strings(resolver.resolve(f"_dmarc.{domain}", "TXT")):
            if text.startswith("v=DMARC1"):
                row["has_dmarc"] = True
                row["dmarc_record"] = text
                # Last part containing "p=" wins, as in the original (sp= overrides p=).
                for part in text.split(";"):
                    if "p=" in part:
                        row["dmarc_policy"] = part.split("=", 1)[1].strip()
                break
    except Exception:  # noqa: BLE001
        pass

    found = []
    for selector in DKIM_SELECTORS:
        try:
            resolver.resolve(f"{selector}._domainkey.{domain}", "TXT")
            found.append(selector)
        except Exception:  # noqa: BLE001
            pass
    row["has_dkim"] = bool(found)
    row["dkim_selectors"] = found or None
    return row


def check_domains(
    domains: Iterable[str],
    address: str,
    port: int,
    progress: Callable[[int, int], None] | None = None,
) -> list[dict[str, Any]]:
    """Check ``domains`` one after another, as the original daemon's single thread did."""
    items = list(domains)
    rows = []
    for index, domain in enumerate(items, start=1):
        rows.append(check_domain(domain, address, port))
        if progress is not None:
            progress(index, len(items))
    return rows


def parse_nameserver(text: str) -> tuple[str, int]:
    """Split ``ip:port`` (``[ip6]:port`` for IPv6) into address and port."""
    if text.startswith("["):
        address, _, port = text[1:].partition("]:")
    else:
        address, _, port = text.rpartition(":")
    if not address or not port.isdigit():
        raise ValueError(f"nameserver {text!r} is invalid: use IP:PORT, e.g. 127.0.0.1:5300")
    return address, int(port)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("domains", nargs="+", metavar="DOMAIN")
    parser.add_argument(
        "--nameserver", required=True, help="server to query, as IP:PORT (loopback only)"
    )
    arguments = parser.parse_args()
    address, port = parse_nameserver(arguments.nameserver)
    started = time.monotonic()
    for row in check_domains(arguments.domains, address, port):
        print(json.dumps(row))
    print(f"{len(arguments.domains)} domains in {time.monotonic() - started:.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
