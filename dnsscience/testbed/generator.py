"""Generate the test bed's zones, hard cases and manifest (ground truth).

``generate(directory, domains=10_000, seed=0)`` writes one zone file per zone and
``manifest.json`` into ``directory`` and returns a ``GeneratedZones``. The same
seed gives the same zones, except for the DKIM key bytes (see ``dkim_keys``).

Generated domains are ``<word>-<n>.<zone>`` under ``alpha.test`` ... ``hotel.test``.
The record mix follows the coverage the original platform measured: about 60 %
of domains with MX, 55 % SPF, 37 % DMARC and 28 % DKIM, and a few percent each
with MTA-STS, TLS-RPT and BIMI. About 1 % of the listed domains are NXDOMAIN.
SPF records include shared provider trees (``_spf.postbox.test`` and others)
with nested includes and a/mx mechanisms. Hard cases live under ``hard.test``
(see ``HARD_CASES``); the real-world corpus under its real names (``corpus``).

Manifest keys (``manifest.json`` and ``GeneratedZones.manifest``):

- ``format`` (1), ``seed``, ``generated_count``: the arguments.
- ``zones``: every zone origin served, without trailing dot.
- ``domains``: every domain to measure: generated, hard cases, corpus.
- ``hard_cases``: case name -> list of domains; ``corpus_domains``: list.
- ``dkim_selectors``: the selector list the DKIM truth was computed over.
- ``truth``: domain -> entry with ``source`` ("generated", "hard", "corpus"),
  ``hard_case`` (name or None), ``nxdomain``, ``has_mx``, ``mx_hosts``
  (preference order, empty for a null MX), ``null_mx``, ``spf_records`` (strings
  joined), ``spf_valid`` (False where check_host() would return permerror, and
  without a record), ``spf_error``, ``spf_lookups`` (None where unknown),
  ``spf_void_lookups``, ``spf_all``, ``dmarc_records``, ``dmarc_policy``
  ("none", "quarantine", "reject" or None), ``dkim_selectors`` (valid, unrevoked
  key), ``dkim_revoked_selectors``, ``has_mta_sts``, ``has_tls_rpt``, ``has_bimi``.
"""

from __future__ import annotations

import json
import logging
import random
import time
from dataclasses import dataclass
from pathlib import Path

from dnsscience.testbed.corpus import add_corpus
from dnsscience.testbed.dkim_keys import DKIM_KEY_KINDS, dkim_public_keys
from dnsscience.testbed.hardcases import HARD_CASES, HARD_ZONE, add_hard_cases
from dnsscience.testbed.truth import DEFAULT_DKIM_SELECTORS, domain_truth
from dnsscience.testbed.zonedata import ZoneSet, split_txt

logger = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_ZONES",
    "HARD_CASES",
    "HARD_ZONE",
    "GeneratedZones",
    "generate",
]

DEFAULT_ZONES = (
    "alpha.test", "bravo.test", "charlie.test", "delta.test",
    "echo.test", "foxtrot.test", "golf.test", "hotel.test",
)  # fmt: skip
MANIFEST_FORMAT = 1

COVERAGE = {
    "nxdomain": 0.01,
    "mx": 0.60,
    "spf": 0.55,
    "dmarc": 0.37,
    "dkim": 0.28,
    "mta_sts": 0.04,
    "tls_rpt": 0.03,
    "bimi": 0.02,
}

WORDS = (
    "acme", "harbor", "maple", "summit", "river", "falcon", "cedar", "orbit", "pixel",
    "quartz", "lumen", "nova", "atlas", "birch", "cobalt", "delta", "ember", "fjord",
    "granite", "helix", "indigo", "juniper", "kite", "lotus", "meadow", "nimbus", "onyx",
    "prairie", "quill", "raven", "sierra", "tundra", "umber", "vertex", "willow", "zephyr",
)  # fmt: skip

# DKIM selectors weighted roughly by how often they appear in the wild.
SELECTOR_WEIGHTS = {"default": 6, "google": 8, "selector1": 6, "selector2": 5, "k1": 3, "s1": 3}


@dataclass
class Provider:
    """A shared mail provider: its SPF include target and MX hosts."""

    zone: str
    spf_name: str
    mx_hosts: tuple[str, ...]


PROVIDERS = {
    "postbox": Provider("postbox.test", "_spf.postbox.test", ("mx1.postbox.test", "mx2.postbox.test")),
    "outpost": Provider("outpost.test", "spf.protection.outpost.test", ("inbound.outpost.test",)),
    "mailforge": Provider("mailforge.test", "spf.mailforge.test", ("mx.mailforge.test",)),
    "sendwave": Provider("sendwave.test", "_spf.sendwave.test", ("mx.sendwave.test",)),
}  # fmt: skip
MX_PROVIDERS = ("postbox", "outpost", "mailforge")


@dataclass
class GeneratedZones:
    """Result of ``generate``: zone files, the manifest and where they were written."""

    directory: Path
    zone_files: dict[str, Path]
    manifest: dict
    manifest_path: Path
    zones: ZoneSet

    @property
    def domains(self) -> list[str]:
        return self.manifest["domains"]


def _add_provider_zones(zones: ZoneSet) -> None:
    """Add provider zones whose SPF trees nest includes and use a/mx mechanisms."""
    for provider in PROVIDERS.values():
        zones.add_zone(provider.zone)
        for index, host in enumerate(provider.mx_hosts):
            zones.add(host, "A", f"198.51.100.{10 + index}")
            zones.add(host, "AAAA", f"2001:db8:100::{10 + index:x}")
    zones.add("postbox.test", "MX", (10, "mx1.postbox.test"))
    zones.add("postbox.test", "MX", (20, "mx2.postbox.test"))
    # 3 lookups: the include plus two nested includes.
    zones.add(
        "_spf.postbox.test",
        "TXT",
        "v=spf1 include:_netblocks.postbox.test include:_netblocks2.postbox.test ~all",
    )
    zones.add(
        "_netblocks.postbox.test",
        "TXT",
        "v=spf1 ip4:198.51.100.0/24 ip4:203.0.113.0/25 ip4:192.0.2.0/26 ~all",
    )
    zones.add(
        "_netblocks2.postbox.test", "TXT", "v=spf1 ip6:2001:db8:100::/48 ip6:2001:db8:101::/48 ~all"
    )
    # 1 lookup.
    zones.add(
        "spf.protection.outpost.test",
        "TXT",
        "v=spf1 ip4:203.0.113.128/25 ip6:2001:db8:200::/48 -all",
    )
    # 3 lookups: the include plus two nested includes.
    zones.add(
        "spf.mailforge.test",
        "TXT",
        "v=spf1 include:spf1.mailforge.test include:spf2.mailforge.test -all",
    )
    zones.add("spf1.mailforge.test", "TXT", "v=spf1 ip4:192.0.2.64/26 -all")
    zones.add("spf2.mailforge.test", "TXT", "v=spf1 ip6:2001:db8:300::/48 -all")
    # 4 lookups: the include, a, mx and a nested include.
    zones.add("relay.sendwave.test", "A", "192.0.2.200")
    zones.add("sendwave.test", "MX", (10, "mx.sendwave.test"))
    zones.add(
        "_spf.sendwave.test",
        "TXT",
        "v=spf1 a:relay.sendwave.test mx:sendwave.test include:_ip.sendwave.test ~all",
    )
    zones.add("_ip.sendwave.test", "TXT", "v=spf1 ip4:192.0.2.128/26 ip6:2001:db8:400::/48 ~all")


def _ipv6(prefix: str, index: int) -> str:
    """Return an address in ``prefix`` (ending in "::") whose last 32 bits are ``index``."""
    return f"{prefix}{index >> 16:x}:{index & 0xFFFF:x}"


def _dkim_record(rng: random.Random, keys: dict[str, list[str]]) -> tuple[str, ...]:
    kind = rng.choice(sorted(DKIM_KEY_KINDS))
    _, key_type = DKIM_KEY_KINDS[kind]
    return split_txt(f"v=DKIM1; k={key_type}; p={rng.choice(keys[kind])}")


def _add_generated_domain(
    zones: ZoneSet, rng: random.Random, domain: str, index: int, keys: dict[str, list[str]]
) -> None:
    host_number = index % 250 + 1
    zones.add(domain, "A", f"203.0.113.{host_number}")
    if rng.random() < 0.3:
        zones.add(domain, "AAAA", _ipv6("2001:db8:1000::", index))
    if rng.random() < 0.2:
        zones.add(domain, "TXT", f"site-verification={rng.getrandbits(64):016x}")

    mx_provider = None
    own_mx = False
    if rng.random() < COVERAGE["mx"]:
        if rng.random() < 0.55:
            mx_provider = PROVIDERS[rng.choice(MX_PROVIDERS)]
            for preference, host in enumerate(mx_provider.mx_hosts, start=1):
                zones.add(domain, "MX", (preference * 10, host))
        else:
            own_mx = True
            hosts = ["mx1"] if rng.random() < 0.5 else ["mx1", "mx2"]
            for preference, label in enumerate(hosts, start=1):
                host = f"{label}.{domain}"
                zones.add(domain, "MX", (preference * 10, host))
                zones.add(host, "A", f"198.51.100.{100 + host_number % 100 + preference}")
                if rng.random() < 0.4:
                    zones.add(host, "AAAA", _ipv6(f"2001:db8:2000:{preference}::", index))

    if rng.random() < COVERAGE["spf"]:
        terms = ["v=spf1"]
        if own_mx and rng.random() < 0.6:
            terms.append("mx")
        if rng.random() < 0.3:
            terms.append("a")
        if rng.random() < 0.4:
            terms.append(f"ip4:192.0.2.{host_number}")
        if rng.random() < 0.2:
            terms.append("ip6:" + _ipv6("2001:db8:3000::", index))
        if mx_provider is not None:
            terms.append(f"include:{mx_provider.spf_name}")
        if rng.random() < 0.3:
            terms.append(f"include:{PROVIDERS['sendwave'].spf_name}")
        if len(terms) == 1:
            terms.append(f"ip4:192.0.2.{host_number}")
        terms.append(rng.choices(["-all", "~all", "?all"], weights=[45, 45, 10])[0])
        zones.add(domain, "TXT", " ".join(terms))

    if rng.random() < COVERAGE["dmarc"]:
        policy = rng.choices(["none", "quarantine", "reject"], weights=[50, 25, 25])[0]
        record = f"v=DMARC1; p={policy}; rua=mailto:dmarc@{domain}"
        if rng.random() < 0.3:
            record += "; pct=100"
        if rng.random() < 0.2:
            record += "; sp=reject; adkim=s"
        zones.add(f"_dmarc.{domain}", "TXT", record)

    if rng.random() < COVERAGE["dkim"]:
        count = rng.choice([1, 1, 1, 2, 2, 3])
        population = list(DEFAULT_DKIM_SELECTORS)
        weights = [SELECTOR_WEIGHTS.get(selector, 1) for selector in population]
        chosen: set[str] = set()
        while len(chosen) < count:
            chosen.add(rng.choices(population, weights=weights)[0])
        for selector in sorted(chosen):
            zones.add(f"{selector}._domainkey.{domain}", "TXT", _dkim_record(rng, keys))

    if rng.random() < COVERAGE["mta_sts"]:
        zones.add(f"_mta-sts.{domain}", "TXT", f"v=STSv1; id=2024{index:08d}")
    if rng.random() < COVERAGE["tls_rpt"]:
        zones.add(f"_smtp._tls.{domain}", "TXT", f"v=TLSRPTv1; rua=mailto:tlsrpt@{domain}")
    if rng.random() < COVERAGE["bimi"]:
        zones.add(f"default._bimi.{domain}", "TXT", f"v=BIMI1; l=https://{domain}/bimi/logo.svg")


def _generated_domains(
    zones: ZoneSet, rng: random.Random, count: int, zone_names: tuple[str, ...]
) -> list[str]:
    keys = dkim_public_keys()
    domains = []
    for index in range(count):
        zone = zone_names[index % len(zone_names)]
        domain = f"{rng.choice(WORDS)}-{index}.{zone}"
        domains.append(domain)
        if rng.random() < COVERAGE["nxdomain"]:
            continue  # listed for measurement, absent from every zone
        _add_generated_domain(zones, rng, domain, index, keys)
    return domains


def generate(
    directory: Path | str,
    domains: int = 10_000,
    seed: int = 0,
    zones: tuple[str, ...] = DEFAULT_ZONES,
    hard_cases: bool = True,
    corpus: bool = True,
) -> GeneratedZones:
    """Write zone files and ``manifest.json`` into ``directory`` and return them.

    ``domains`` is the number of generated domains (hard cases and corpus come on
    top). Raises ValueError for a negative count or an empty zone list.
    """
    if domains < 0:
        raise ValueError(f"domain count {domains} is invalid: use 0 or more")
    if not zones:
        raise ValueError("the zone list is empty: give at least one zone such as alpha.test")
    started = time.monotonic()
    directory = Path(directory)
    rng = random.Random(seed)
    zone_set = ZoneSet()
    for zone in zones:
        zone_set.add_zone(zone)
    _add_provider_zones(zone_set)

    sources: dict[str, tuple[str, str | None]] = {}
    generated = _generated_domains(zone_set, rng, domains, tuple(zones))
    for domain in generated:
        sources[domain] = ("generated", None)

    hard_case_domains: dict[str, list[str]] = {}
    if hard_cases:
        hard_case_domains = add_hard_cases(zone_set, dkim_public_keys())
        for case, case_domains in hard_case_domains.items():
            for domain in case_domains:
                sources[domain] = ("hard", case)

    corpus_domains: list[str] = []
    if corpus:
        corpus_domains = add_corpus(zone_set)
        for domain in corpus_domains:
            sources[domain] = ("corpus", None)

    truth = {}
    for domain, (source, case) in sources.items():
        entry = {"source": source, "hard_case": case}
        entry.update(domain_truth(zone_set, domain))
        truth[domain] = entry

    zone_files = zone_set.write_zone_files(directory / "zones")
    manifest = {
        "format": MANIFEST_FORMAT,
        "seed": seed,
        "generated_count": domains,
        "zones": list(zone_set.origins),
        "domains": list(sources),
        "hard_cases": hard_case_domains,
        "corpus_domains": corpus_domains,
        "dkim_selectors": list(DEFAULT_DKIM_SELECTORS),
        "truth": truth,
    }
    manifest_path = directory / "manifest.json"
    manifest_path.write_text(json.dumps(manifest, separators=(",", ":")) + "\n")
    logger.info(
        "generated %d domains in %d zones in %.1f s (%s)",
        len(sources),
        len(zone_files),
        time.monotonic() - started,
        directory,
    )
    return GeneratedZones(directory, zone_files, manifest, manifest_path, zone_set)
