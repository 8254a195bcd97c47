"""Hard cases planted under ``hard.test``: records that trip naive email checkers.

Each case is a domain named ``<case>.hard.test``. ``HARD_CASES`` maps the case
name to the manifest truth values that case must produce, so a test can check
both the planted data and the truth computed from it.
"""

from __future__ import annotations

from dnsscience.testbed.zonedata import ZoneSet, split_txt

__all__ = ["HARD_CASES", "HARD_TARGET_ZONE", "HARD_ZONE", "add_hard_cases"]

HARD_ZONE = "hard.test"
# Zone that receives the DMARC CNAME leaving hard.test.
HARD_TARGET_ZONE = "hard-target.test"

# Case name -> expected manifest truth of its domain(s).
HARD_CASES: dict[str, dict] = {
    "spf-two-records": {"spf_valid": False, "has_mx": True},
    "spf-split-strings": {"spf_valid": True, "spf_lookups": 3},
    "spf-uppercase-version": {"spf_valid": True, "spf_all": "-all"},
    "spf-version-spf10": {"spf_valid": True, "spf_records": ["v=spf1 ip4:192.0.2.0/24 -all"]},
    "spf-plus-all": {"spf_valid": True, "spf_all": "+all"},
    "spf-too-many-lookups": {"spf_valid": False, "spf_lookups": 12},
    "spf-void-lookups": {"spf_valid": False, "spf_void_lookups": 3, "spf_lookups": 3},
    "spf-include-loop": {"spf_valid": False, "spf_lookups": None},
    "spf-long-record": {"spf_valid": True, "spf_lookups": 0},
    "txt-large": {"spf_valid": True, "spf_records": ["v=spf1 -all"]},
    "mx-null": {"has_mx": True, "null_mx": True, "mx_hosts": []},
    "mx-preference-order": {"mx_hosts": ["mx-a.hard.test", "mx-b.hard.test", "mx-c.hard.test"]},
    "dmarc-sp-before-p": {"dmarc_policy": "reject"},
    "dmarc-rua-contains-p": {"dmarc_policy": "reject"},
    "dmarc-rua-without-p": {"dmarc_policy": "none"},
    "dmarc-two-records": {"dmarc_policy": None},
    "dmarc-cname": {"dmarc_policy": "quarantine"},
    "dmarc-cname-other-zone": {"dmarc_policy": "reject"},
    "dkim-wildcard": {"dkim_selectors": ["google"], "dkim_revoked_selectors": []},
    "dkim-revoked": {"dkim_selectors": ["selector2"], "dkim_revoked_selectors": ["selector1"]},
    "dkim-split-strings": {"dkim_selectors": ["default"]},
    "nxdomain": {"nxdomain": True, "has_mx": False},
}

NXDOMAIN_NAMES = ("nxdomain-1", "nxdomain-2", "nxdomain-3")
# Answers larger than this need TCP when the client offers the EDNS buffer size
# recommended by DNS Flag Day 2020, which Knot also uses by default.
UDP_PAYLOAD_LIMIT = 1232


def _domain(case: str) -> str:
    return f"{case}.{HARD_ZONE}"


def _add_spf_cases(zones: ZoneSet) -> None:
    zones.add(_domain("spf-two-records"), "MX", (10, f"mx-a.{HARD_ZONE}"))
    zones.add(_domain("spf-two-records"), "TXT", "v=spf1 ip4:192.0.2.1 -all")
    zones.add(_domain("spf-two-records"), "TXT", "v=spf1 ip4:192.0.2.2 -all")
    # RFC 7208 section 3.3: the strings are joined without a space.
    zones.add(
        _domain("spf-split-strings"),
        "TXT",
        ("v=spf1 ip4:192.0.2.0/24 ", "include:_spf.postbox.test -all"),
    )
    zones.add(_domain("spf-uppercase-version"), "TXT", "V=SPF1 ip4:192.0.2.0/24 -ALL")
    zones.add(_domain("spf-version-spf10"), "TXT", "v=spf10 ip4:192.0.2.9 -all")
    zones.add(_domain("spf-version-spf10"), "TXT", "v=spf1 ip4:192.0.2.0/24 -all")
    zones.add(_domain("spf-plus-all"), "TXT", "v=spf1 +all")
    # 3 (postbox) + 4 (sendwave) + 3 (mailforge) + a + mx = 12 lookups.
    too_many = _domain("spf-too-many-lookups")
    zones.add(too_many, "A", "192.0.2.20")
    zones.add(too_many, "MX", (10, f"mx-a.{HARD_ZONE}"))
    zones.add(
        too_many,
        "TXT",
        "v=spf1 include:_spf.postbox.test include:_spf.sendwave.test "
        "include:spf.mailforge.test a mx -all",
    )
    zones.add(
        _domain("spf-void-lookups"),
        "TXT",
        f"v=spf1 a:void-1.{HARD_ZONE} a:void-2.{HARD_ZONE} a:void-3.{HARD_ZONE} -all",
    )
    zones.add(_domain("spf-include-loop"), "TXT", f"v=spf1 include:loop-a.spf.{HARD_ZONE} -all")
    zones.add(f"loop-a.spf.{HARD_ZONE}", "TXT", f"v=spf1 include:loop-b.spf.{HARD_ZONE} -all")
    zones.add(f"loop-b.spf.{HARD_ZONE}", "TXT", f"v=spf1 include:loop-a.spf.{HARD_ZONE} -all")
    # About 1,700 bytes in one record: over the UDP limit on its own.
    networks = " ".join(f"ip4:198.18.{block}.0/24" for block in range(90))
    zones.add(_domain("spf-long-record"), "TXT", f"v=spf1 {networks} -all")
    # Many TXT records at one name: over the UDP limit together.
    for number in range(40):
        zones.add(_domain("txt-large"), "TXT", f"filler-{number:02d} " + "x" * 40)
    zones.add(_domain("txt-large"), "TXT", "v=spf1 -all")


def _add_mx_cases(zones: ZoneSet) -> None:
    for index, label in enumerate(("mx-a", "mx-b", "mx-c")):
        zones.add(f"{label}.{HARD_ZONE}", "A", f"192.0.2.{30 + index}")
    # RFC 7505: a single MX with preference 0 and the root as exchange.
    zones.add(_domain("mx-null"), "MX", (0, "."))
    zones.add(_domain("mx-null"), "TXT", "v=spf1 -all")
    # Written out of order; the truth lists hosts by preference.
    zones.add(_domain("mx-preference-order"), "MX", (30, f"mx-c.{HARD_ZONE}"))
    zones.add(_domain("mx-preference-order"), "MX", (10, f"mx-a.{HARD_ZONE}"))
    zones.add(_domain("mx-preference-order"), "MX", (20, f"mx-b.{HARD_ZONE}"))


def _add_dmarc_cases(zones: ZoneSet) -> None:
    def dmarc(case: str, *records: str) -> None:
        zones.add(_domain(case), "A", "192.0.2.40")
        for record in records:
            zones.add(f"_dmarc.{_domain(case)}", "TXT", record)

    dmarc("dmarc-sp-before-p", "v=DMARC1; sp=none; p=reject; rua=mailto:dmarc@hard.test")
    dmarc("dmarc-rua-contains-p", "v=DMARC1; p=reject; rua=mailto:dmarc-p=none@hard.test")
    dmarc("dmarc-rua-without-p", "v=DMARC1; rua=mailto:dmarc@hard.test")
    dmarc("dmarc-two-records", "v=DMARC1; p=reject", "v=DMARC1; p=none")
    zones.add(_domain("dmarc-cname"), "A", "192.0.2.41")
    zones.add(f"_dmarc.{_domain('dmarc-cname')}", "CNAME", f"policy.dmarc.{HARD_ZONE}")
    zones.add(f"policy.dmarc.{HARD_ZONE}", "TXT", "v=DMARC1; p=quarantine")
    zones.add(_domain("dmarc-cname-other-zone"), "A", "192.0.2.42")
    zones.add(
        f"_dmarc.{_domain('dmarc-cname-other-zone')}", "CNAME", f"policy.dmarc.{HARD_TARGET_ZONE}"
    )
    zones.add(f"policy.dmarc.{HARD_TARGET_ZONE}", "TXT", "v=DMARC1; p=reject")


def _add_dkim_cases(zones: ZoneSet, keys: dict[str, list[str]]) -> None:
    rsa1024 = keys["rsa1024"][0]
    rsa2048 = keys["rsa2048"][0]
    wildcard = _domain("dkim-wildcard")
    zones.add(wildcard, "A", "192.0.2.50")
    zones.add(f"*._domainkey.{wildcard}", "TXT", "this wildcard answers every selector")
    zones.add(f"google._domainkey.{wildcard}", "TXT", f"v=DKIM1; k=rsa; p={rsa1024}")
    revoked = _domain("dkim-revoked")
    zones.add(revoked, "A", "192.0.2.51")
    # RFC 6376 section 3.6.1: an empty p= means the key was revoked.
    zones.add(f"selector1._domainkey.{revoked}", "TXT", "v=DKIM1; k=rsa; p=")
    zones.add(f"selector2._domainkey.{revoked}", "TXT", f"v=DKIM1; k=rsa; p={rsa1024}")
    split = _domain("dkim-split-strings")
    zones.add(split, "A", "192.0.2.52")
    zones.add(
        f"default._domainkey.{split}", "TXT", split_txt(f"v=DKIM1; k=rsa; p={rsa2048}", 100)
    )


def add_hard_cases(zones: ZoneSet, keys: dict[str, list[str]]) -> dict[str, list[str]]:
    """Add ``hard.test`` and ``hard-target.test`` to ``zones``; return case -> domains."""
    zones.add_zone(HARD_ZONE)
    zones.add_zone(HARD_TARGET_ZONE)
    _add_mx_cases(zones)
    _add_spf_cases(zones)
    _add_dmarc_cases(zones)
    _add_dkim_cases(zones, keys)
    cases = {case: [_domain(case)] for case in HARD_CASES if case != "nxdomain"}
    cases["nxdomain"] = [f"{name}.{HARD_ZONE}" for name in NXDOMAIN_NAMES]
    return cases
