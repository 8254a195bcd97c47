"""Ground truth of the test bed's zones: what a standards-exact checker should report.

Each function reads a ``ZoneSet`` and applies the RFC rules to one domain, so the
manifest states the expected result of every measurement. The SPF check expands
the whole include tree the way a record checker does (every mechanism, not only
those before a match), because no client address is given.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dnsscience.testbed.zonedata import ZoneSet

__all__ = [
    "DEFAULT_DKIM_SELECTORS",
    "SPF_LOOKUP_LIMIT",
    "SPF_VOID_LOOKUP_LIMIT",
    "SpfTruth",
    "domain_truth",
    "evaluate_spf",
    "is_spf_record",
]

# RFC 7208 section 4.6.4: at most 10 terms that cause DNS queries, and at most 2
# of those queries may return no data or NXDOMAIN.
SPF_LOOKUP_LIMIT = 10
SPF_VOID_LOOKUP_LIMIT = 2

DEFAULT_DKIM_SELECTORS = (
    "default", "google", "selector1", "selector2", "k1", "k2", "k3", "s1", "s2", "dkim",
    "mail", "smtp", "fm1", "fm2", "fm3", "protonmail", "protonmail2", "protonmail3",
    "mandrill", "zoho",
)  # fmt: skip

DMARC_POLICIES = ("none", "quarantine", "reject")


def is_spf_record(text: str) -> bool:
    """Return whether a TXT record is an SPF record (RFC 7208 section 4.5).

    The version must be ``v=spf1`` followed by a space or the end, so ``v=spf10``
    is not one. The comparison ignores case because ABNF literals are
    case-insensitive (RFC 5234 section 2.3), so ``V=SPF1`` is one.
    """
    lowered = text.lower()
    return lowered == "v=spf1" or lowered.startswith("v=spf1 ")


@dataclass
class SpfTruth:
    """Expected SPF result for one domain."""

    records: list[str] = field(default_factory=list)
    valid: bool = False
    error: str | None = None
    # Terms that cause DNS queries in the fully expanded tree; None when unknown
    # (an include loop, or a macro in an include target).
    lookups: int | None = 0
    void_lookups: int = 0
    # The top-level all term with its qualifier ("-all", "~all", "?all", "+all"),
    # taken from the redirect target when the record has none; None without one.
    all_term: str | None = None


class _SpfPermError(Exception):
    pass


class _SpfWalk:
    def __init__(self, zones: ZoneSet) -> None:
        self.zones = zones
        self.lookups = 0
        self.void_lookups = 0
        self.lookups_known = True
        self.all_term: str | None = None

    def walk(self, name: str, stack: tuple[str, ...], top: bool) -> None:
        records = [text for text in self.zones.txt(name) if is_spf_record(text)]
        if not records:
            raise _SpfPermError(f"{name} has no SPF record")
        if len(records) > 1:
            raise _SpfPermError(f"{name} has {len(records)} SPF records")
        redirect = None
        has_all = False
        for term in records[0].split()[1:]:
            lowered = term.lower()
            qualifier = lowered[0] if lowered[0] in "+-~?" else "+"
            mechanism = lowered.lstrip("+-~?")
            if mechanism.startswith("redirect="):
                redirect = term.split("=", 1)[1]
                continue
            if "=" in mechanism.split(":", 1)[0]:
                continue  # exp= and unknown modifiers cause no lookup here
            kind, _, argument = mechanism.partition(":")
            kind = kind.split("/", 1)[0]
            argument = argument.split("/", 1)[0]
            if kind == "all":
                has_all = True
                if top:
                    self.all_term = qualifier + "all"
            elif kind in ("ip4", "ip6"):
                continue
            elif kind == "include":
                self._include(argument, stack)
            elif kind in ("a", "mx"):
                self._address_mechanism(kind, argument or name)
            elif kind in ("ptr", "exists"):
                self.lookups += 1
            else:
                raise _SpfPermError(f"{name}: unknown mechanism {term!r}")
        if redirect and not has_all:
            self.lookups += 1
            self._follow(redirect, stack, top=top)

    def _include(self, target: str, stack: tuple[str, ...]) -> None:
        self.lookups += 1
        self._follow(target, stack, top=False)

    def _follow(self, target: str, stack: tuple[str, ...], top: bool) -> None:
        target = target.lower().rstrip(".")
        if "%" in target:
            self.lookups_known = False
            return
        if target in stack:
            self.lookups_known = False
            raise _SpfPermError(f"include loop through {target}")
        if not self.zones.exists(target):
            self.void_lookups += 1
        self.walk(target, stack + (target,), top)

    def _address_mechanism(self, kind: str, target: str) -> None:
        self.lookups += 1
        if "%" in target:
            return
        if kind == "a":
            if not self.zones.has_address(target):
                self.void_lookups += 1
            return
        hosts = self.zones.mx(target)
        if not hosts:
            self.void_lookups += 1
        if len(hosts) > 10:
            raise _SpfPermError(f"{target} has {len(hosts)} MX records, more than 10")


def evaluate_spf(zones: ZoneSet, domain: str) -> SpfTruth:
    """Return the expected SPF result of ``domain``: valid unless check_host() would permerror."""
    truth = SpfTruth(records=[text for text in zones.txt(domain) if is_spf_record(text)])
    if not truth.records:
        truth.error = "no SPF record"
        truth.lookups = None
        return truth
    walk = _SpfWalk(zones)
    try:
        walk.walk(domain, (domain,), top=True)
    except _SpfPermError as error:
        truth.error = str(error)
    truth.lookups = walk.lookups if walk.lookups_known else None
    truth.void_lookups = walk.void_lookups
    truth.all_term = walk.all_term
    if truth.error is None and walk.lookups > SPF_LOOKUP_LIMIT:
        truth.error = f"{walk.lookups} DNS lookups, more than {SPF_LOOKUP_LIMIT}"
    if truth.error is None and walk.void_lookups > SPF_VOID_LOOKUP_LIMIT:
        truth.error = f"{walk.void_lookups} void lookups, more than {SPF_VOID_LOOKUP_LIMIT}"
    truth.valid = truth.error is None
    return truth


def parse_tags(text: str) -> dict[str, str]:
    """Parse a ``tag=value; ...`` list (DMARC, DKIM); the first occurrence of a tag wins."""
    tags: dict[str, str] = {}
    for part in text.split(";"):
        tag, separator, value = part.partition("=")
        if separator:
            tags.setdefault(tag.strip().lower(), value.strip())
    return tags


def evaluate_dmarc(zones: ZoneSet, domain: str) -> tuple[list[str], str | None]:
    """Return the DMARC records at ``_dmarc.<domain>`` and the policy a receiver applies.

    RFC 7489 section 6.6.3: records not starting with ``v=DMARC1`` are ignored,
    and more than one record means no policy. A record without a valid ``p`` but
    with an ``rua`` tag counts as ``p=none``.
    """
    records = [text for text in zones.txt(f"_dmarc.{domain}") if text.startswith("v=DMARC1")]
    if len(records) != 1:
        return records, None
    tags = parse_tags(records[0])
    policy = tags.get("p", "").lower()
    if policy in DMARC_POLICIES:
        return records, policy
    if tags.get("rua"):
        return records, "none"
    return records, None


def classify_dkim_record(text: str) -> str | None:
    """Return "valid", "revoked" or None (not a DKIM key record, RFC 6376 section 3.6.1)."""
    tags = parse_tags(text)
    if "p" not in tags:
        return None
    if "v" in tags and tags["v"] != "DKIM1":
        return None
    return "valid" if tags["p"] else "revoked"


def _single_record(zones: ZoneSet, name: str, prefix: str, required_tag: str) -> bool:
    records = [text for text in zones.txt(name) if text.startswith(prefix)]
    return len(records) == 1 and required_tag in parse_tags(records[0])


def domain_truth(
    zones: ZoneSet, domain: str, selectors: tuple[str, ...] = DEFAULT_DKIM_SELECTORS
) -> dict:
    """Return the manifest entry of one domain (keys listed in ``dnsscience.testbed.generator``)."""
    if not zones.exists(domain):
        return {
            "nxdomain": True, "has_mx": False, "mx_hosts": [], "null_mx": False,
            "spf_records": [], "spf_valid": False, "spf_error": "NXDOMAIN",
            "spf_lookups": None, "spf_void_lookups": 0, "spf_all": None,
            "dmarc_records": [], "dmarc_policy": None,
            "dkim_selectors": [], "dkim_revoked_selectors": [],
            "has_mta_sts": False, "has_tls_rpt": False, "has_bimi": False,
        }  # fmt: skip
    mx = sorted(zones.mx(domain), key=lambda record: record[0])
    null_mx = len(mx) == 1 and mx[0][0] == 0 and mx[0][1].rstrip(".") == ""
    spf = evaluate_spf(zones, domain)
    dmarc_records, dmarc_policy = evaluate_dmarc(zones, domain)
    valid_selectors = []
    revoked_selectors = []
    # Without a _domainkey node (or a wildcard covering it) no selector can exist,
    # which skips 20 lookups for most domains.
    if not zones.exists(f"_domainkey.{domain}"):
        selectors = ()
    for selector in selectors:
        kinds = {classify_dkim_record(text) for text in zones.txt(f"{selector}._domainkey.{domain}")}
        if "valid" in kinds:
            valid_selectors.append(selector)
        elif "revoked" in kinds:
            revoked_selectors.append(selector)
    return {
        "nxdomain": False,
        "has_mx": bool(mx),
        "mx_hosts": [] if null_mx else [host for _, host in mx],
        "null_mx": null_mx,
        "spf_records": spf.records,
        "spf_valid": spf.valid,
        "spf_error": spf.error,
        "spf_lookups": spf.lookups,
        "spf_void_lookups": spf.void_lookups,
        "spf_all": spf.all_term,
        "dmarc_records": dmarc_records,
        "dmarc_policy": dmarc_policy,
        "dkim_selectors": valid_selectors,
        "dkim_revoked_selectors": revoked_selectors,
        "has_mta_sts": _single_record(zones, f"_mta-sts.{domain}", "v=STSv1", "id"),
        "has_tls_rpt": _single_record(zones, f"_smtp._tls.{domain}", "v=TLSRPTv1", "rua"),
        "has_bimi": bool(
            [text for text in zones.txt(f"default._bimi.{domain}") if text.startswith("v=BIMI1")]
        ),
    }
