"""Real-world corpus: published mail records of well-known domains, served locally.

``mail_domains.json`` (package data) contains the records and states when they were
seen; they come from the author's knowledge, not from live queries, and may have
changed since. The loader adds one zone per top-level domain (``com``, ``net``,
``org``, ...) so the names resolve on the test bed's server without delegation.
Host names that an MX record or an SPF ``a``/``mx`` mechanism needs get a
synthesized address from 192.0.2.0/24 when the file has none.
"""

from __future__ import annotations

import json
import logging
from functools import cache
from importlib import resources

from dnsscience.testbed.zonedata import ZoneSet

logger = logging.getLogger(__name__)

__all__ = ["CORPUS_FILE", "add_corpus", "load_corpus"]

CORPUS_FILE = "mail_domains.json"
SUPPORTED_TYPES = ("A", "AAAA", "MX", "TXT", "CNAME")


@cache
def load_corpus() -> dict:
    """Return the parsed corpus file: ``description``, ``seen``, ``domains``, ``records``."""
    text = resources.files(__name__).joinpath(CORPUS_FILE).read_text(encoding="utf-8")
    corpus = json.loads(text)
    for owner, rrsets in corpus["records"].items():
        for rrtype in rrsets:
            if rrtype not in SUPPORTED_TYPES:
                raise ValueError(
                    f"{CORPUS_FILE}: record type {rrtype} at {owner} is not supported; "
                    f"use one of {', '.join(SUPPORTED_TYPES)}"
                )
    return corpus


def _address_targets(zones: ZoneSet, owners: list[str]) -> list[str]:
    """Return host names that MX records and SPF a/mx mechanisms point to."""
    targets: list[str] = []
    for owner in owners:
        for _, host in zones.mx(owner):
            targets.append(host)
        for text in zones.txt(owner):
            if not text.lower().startswith("v=spf1"):
                continue
            for term in text.split()[1:]:
                mechanism = term.lstrip("+-~?").lower()
                kind, _, argument = mechanism.partition(":")
                kind = kind.split("/", 1)[0]
                argument = argument.split("/", 1)[0]
                if kind == "a":
                    targets.append(argument or owner)
                elif kind == "mx":
                    targets.extend(host for _, host in zones.mx(argument or owner))
    return targets


def add_corpus(zones: ZoneSet) -> list[str]:
    """Add the corpus records to ``zones`` and return the corpus mail domains."""
    corpus = load_corpus()
    owners = list(corpus["records"])
    for owner in owners:
        zones.add_zone(owner.rsplit(".", 1)[-1])
    for owner, rrsets in corpus["records"].items():
        for rrtype, values in rrsets.items():
            for value in values:
                if rrtype == "MX":
                    preference, host = value.split()
                    zones.add(owner, "MX", (int(preference), host.rstrip(".")))
                else:
                    zones.add(owner, rrtype, value)

    synthesized = 0
    for host in _address_targets(zones, owners):
        if host and not zones.has_address(host):
            zone = host.rsplit(".", 1)[-1]
            zones.add_zone(zone)
            synthesized += 1
            zones.add(host, "A", f"192.0.2.{synthesized % 254 + 1}")
    logger.debug("corpus: %d owners, %d synthesized addresses", len(owners), synthesized)
    return list(corpus["domains"])
