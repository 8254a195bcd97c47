"""The DNS queries that one email check sends, as a dnsperf input file.

For each domain the checker queries MX, TXT at the apex, TXT at ``_dmarc``, TXT at
each DKIM selector (20 by default), TXT at ``_mta-sts``, ``_smtp._tls`` and
``default._bimi``, and then the SPF follow-ups that RFC 7208 check_host() needs
without a client address: TXT for each ``include`` and ``redirect`` target, A and
AAAA for each ``a`` target, MX and then A and AAAA of every exchange for each
``mx`` target, and A for each ``exists`` target (section 5). The SPF records come
from the test bed's manifest; provider records that domains include are read
once from the nameserver with dnspython and cached.

NOTE: this list is the query plan the email checker documents, counted without
any per-domain answer cache. Where the checker shares one answer between two
terms (for example the MX lookup and an ``mx`` mechanism), it sends fewer.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import dns.resolver

__all__ = ["MAIL_TXT_PREFIXES", "QueryMix", "fixed_queries", "run_dnsperf"]

#: TXT names under the domain that every check queries, besides DKIM selectors.
MAIL_TXT_PREFIXES = ("", "_dmarc.", "_mta-sts.", "_smtp._tls.", "default._bimi.")

_TERM = re.compile(r"^[+\-~?]?([a-z]+)(?::([^/]+))?", re.IGNORECASE)
_MODIFIER = re.compile(r"^(redirect)=(.+)$", re.IGNORECASE)


def fixed_queries(domain: str, selectors: Iterable[str]) -> list[tuple[str, str]]:
    """Return the queries every check of ``domain`` sends, whatever its records."""
    queries = [(domain, "MX")]
    queries += [(f"{prefix}{domain}", "TXT") for prefix in MAIL_TXT_PREFIXES]
    queries += [(f"{selector}._domainkey.{domain}", "TXT") for selector in selectors]
    return queries


def _spf_records(texts: Iterable[str]) -> list[str]:
    return [
        text for text in texts if text.lower() == "v=spf1" or text.lower().startswith("v=spf1 ")
    ]


class QueryMix:
    """Builds per-domain query lists from a test bed manifest.

    ``nameserver`` (``ip:port`` on loopback) serves the TXT and MX records of
    shared SPF targets that the manifest does not describe.
    """

    def __init__(self, manifest: dict, nameserver: str, selectors: Iterable[str]) -> None:
        self.truth = manifest["truth"]
        self.selectors = list(selectors)
        address, _, port = nameserver.rpartition(":")
        self._resolver = dns.resolver.Resolver(configure=False)
        self._resolver.nameservers = [address.strip("[]")]
        self._resolver.port = int(port)
        self._resolver.lifetime = 5.0
        self._txt_cache: dict[str, list[str]] = {}
        self._mx_cache: dict[str, list[str]] = {}

    def _txt(self, name: str) -> list[str]:
        if name not in self._txt_cache:
            try:
                answer = self._resolver.resolve(name, "TXT")
                self._txt_cache[name] = [
                    b"".join(rdata.strings).decode("utf-8", "replace") for rdata in answer
                ]
            except dns.resolver.NoAnswer:
                self._txt_cache[name] = []
            except dns.resolver.NXDOMAIN:
                self._txt_cache[name] = []
        return self._txt_cache[name]

    def _mx_hosts(self, name: str) -> list[str]:
        entry = self.truth.get(name)
        if entry is not None:
            return list(entry.get("mx_hosts") or [])
        if name not in self._mx_cache:
            try:
                answer = self._resolver.resolve(name, "MX")
                self._mx_cache[name] = [str(rdata.exchange).rstrip(".") for rdata in answer]
            except (dns.resolver.NoAnswer, dns.resolver.NXDOMAIN):
                self._mx_cache[name] = []
        return self._mx_cache[name]

    def _spf_followups(self, domain: str, record: str, depth: int) -> list[tuple[str, str]]:
        queries: list[tuple[str, str]] = []
        if depth > 10:
            return queries
        for term in record.split()[1:]:
            modifier = _MODIFIER.match(term)
            if modifier:
                target = modifier.group(2)
                queries.append((target, "TXT"))
                records = _spf_records(self._txt(target))
                if len(records) == 1:
                    queries += self._spf_followups(target, records[0], depth + 1)
                continue
            match = _TERM.match(term)
            if not match:
                continue
            mechanism = match.group(1).lower()
            target = (match.group(2) or domain).rstrip(".")
            if mechanism == "include":
                queries.append((target, "TXT"))
                records = _spf_records(self._txt(target))
                if len(records) == 1:
                    queries += self._spf_followups(target, records[0], depth + 1)
            elif mechanism == "a":
                queries += [(target, "A"), (target, "AAAA")]
            elif mechanism == "mx":
                queries.append((target, "MX"))
                for host in self._mx_hosts(target)[:10]:
                    queries += [(host, "A"), (host, "AAAA")]
            elif mechanism == "exists":
                queries.append((target, "A"))
        return queries

    def domain_queries(self, domain: str) -> list[tuple[str, str]]:
        """Return every query one check of ``domain`` sends, in a plausible order."""
        queries = fixed_queries(domain, self.selectors)
        entry = self.truth.get(domain) or {}
        records = _spf_records(entry.get("spf_records") or [])
        # More than one SPF record is a permerror before any term is evaluated.
        if len(records) == 1:
            queries += self._spf_followups(domain, records[0], 0)
        return queries

    def iterate(self, domains: Iterable[str]) -> Iterator[tuple[str, str]]:
        for domain in domains:
            yield from self.domain_queries(domain)

    def write_dnsperf_input(self, path: Path, domains: Iterable[str]) -> int:
        """Write one ``name type`` line per query to ``path``; return the line count."""
        count = 0
        with open(path, "w") as output:
            for name, rrtype in self.iterate(domains):
                output.write(f"{name} {rrtype}\n")
                count += 1
        return count


def _split_nameserver(nameserver: str) -> tuple[str, int]:
    address, _, port = nameserver.rpartition(":")
    return address.strip("[]"), int(port)


def run_dnsperf(
    report: Any,
    nameserver: str,
    input_path: Path,
    seconds: float,
    outstanding: list[int],
) -> float | None:
    """Run dnsperf once per ``-q`` value; record each and return the best queries per second."""
    dnsperf = shutil.which("dnsperf")
    if dnsperf is None:
        report.note("dnsperf is not installed (Debian package dnsperf); no ceiling measured")
        return None
    address, port = _split_nameserver(nameserver)
    threads = max(2, os.cpu_count() or 2)
    best = None
    for depth in outstanding:
        command = [
            dnsperf, "-s", address, "-p", str(port), "-d", str(input_path),
            "-c", str(threads * 4), "-T", str(threads), "-q", str(depth),
            "-l", f"{seconds:g}", "-t", "5", "-e",
        ]  # fmt: skip
        print("running " + " ".join(command), flush=True)
        completed = subprocess.run(command, capture_output=True, text=True, check=False)
        if completed.returncode != 0:
            report.note(f"dnsperf -q {depth} failed: {completed.stderr.strip()[-500:]}")
            continue
        qps = re.search(r"Queries per second:\s+([\d.]+)", completed.stdout)
        lost = re.search(r"Queries lost:\s+(\d+)", completed.stdout)
        completed_count = re.search(r"Queries completed:\s+(\d+)", completed.stdout)
        if qps is None:
            report.note(f"dnsperf -q {depth} printed no rate: {completed.stdout[-500:]}")
            continue
        rate = float(qps.group(1))
        report.measure(f"dnsperf_q{depth}_qps", rate, "queries/s")
        if lost and completed_count:
            report.measure(f"dnsperf_q{depth}_lost", int(lost.group(1)))
            report.measure(f"dnsperf_q{depth}_completed", int(completed_count.group(1)))
        best = rate if best is None else max(best, rate)
    if best is not None:
        report.measure("dnsperf_qps", best, "queries/s")
    return best
