"""In-memory zones of the test bed, written out as zone files for Knot DNS.

A ``ZoneSet`` contains every record the test bed serves, indexed by owner name, so
the ground truth can be computed from exactly the data that goes into the zone
files. Lookups follow the rules an authoritative server and a resolver apply
together: CNAME chains across zones, empty non-terminals and wildcards
(RFC 4592, closest encloser only).

Names are lower-case, absolute and written without the trailing dot. TXT data
is a tuple of character-strings, each at most 255 bytes (RFC 1035 section 3.3.14).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

logger = logging.getLogger(__name__)

__all__ = ["DEFAULT_TTL", "ZoneSet", "split_txt"]

DEFAULT_TTL = 3600
# Short negative TTL, so a resolver in front of the test bed does not keep
# NXDOMAIN answers long after a test changed its expectations.
NEGATIVE_TTL = 60
MAX_CNAME_CHAIN = 8


def split_txt(text: str, size: int = 255) -> tuple[str, ...]:
    """Split ``text`` into character-strings of at most ``size`` bytes (ASCII only)."""
    if size < 1 or size > 255:
        raise ValueError(f"character-string size {size} is invalid: use 1 to 255")
    if not text:
        return ("",)
    return tuple(text[start : start + size] for start in range(0, len(text), size))


def _quote(string: str) -> str:
    return '"' + string.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _parent(name: str) -> str:
    return name.split(".", 1)[1] if "." in name else ""


class ZoneSet:
    """Records of all zones the test bed serves, indexed by owner name."""

    def __init__(self) -> None:
        self.origins: list[str] = []
        # owner -> rrtype -> list of rdata (TXT: tuple of strings; MX: (preference, host);
        # A, AAAA, CNAME, NS: text).
        self.records: dict[str, dict[str, list]] = {}
        self._existing: set[str] = set()
        self._owners_by_zone: dict[str, list[str]] = {}
        # Parents of wildcard owners: "x.test" for "*.x.test".
        self._wildcard_parents: set[str] = set()

    def add_zone(self, origin: str) -> None:
        """Declare a zone; ``add`` accepts only names inside a declared zone."""
        origin = origin.lower().rstrip(".")
        if origin in self._owners_by_zone:
            return
        self.origins.append(origin)
        self._owners_by_zone[origin] = []
        self.add(origin, "NS", f"ns1.{origin}")
        self.add(f"ns1.{origin}", "A", "127.0.0.1")

    def zone_of(self, name: str) -> str | None:
        """Return the closest enclosing declared zone of ``name``, or None."""
        candidate = name
        while candidate:
            if candidate in self._owners_by_zone:
                return candidate
            candidate = _parent(candidate)
        return None

    def add(self, owner: str, rrtype: str, rdata: object) -> None:
        """Add one record. TXT rdata may be a string, which is split into 255-byte strings."""
        owner = owner.lower().rstrip(".")
        zone = self.zone_of(owner)
        if zone is None:
            raise ValueError(f"{owner} is in no declared zone: call add_zone first")
        if rrtype == "TXT" and isinstance(rdata, str):
            rdata = split_txt(rdata)
        if owner.startswith("*."):
            self._wildcard_parents.add(owner[2:])
        rrsets = self.records.get(owner)
        if rrsets is None:
            rrsets = self.records[owner] = {}
            self._owners_by_zone[zone].append(owner)
        rrsets.setdefault(rrtype, []).append(rdata)
        name = owner
        while name and name not in self._existing:
            self._existing.add(name)
            if name == zone:
                break
            name = _parent(name)

    def exists(self, name: str) -> bool:
        """Return whether ``name`` exists in DNS, as an owner, an empty non-terminal or by wildcard."""
        name = name.lower().rstrip(".")
        return name in self._existing or self._wildcard_owner(name) is not None

    def _wildcard_owner(self, name: str) -> str | None:
        """Return the wildcard owner that synthesizes ``name``, or None (RFC 4592 section 3.3.1)."""
        encloser = _parent(name)
        while encloser:
            if encloser in self._existing:
                return f"*.{encloser}" if encloser in self._wildcard_parents else None
            encloser = _parent(encloser)
        return None

    def lookup(self, name: str, rrtype: str) -> list:
        """Return the rdata a resolver gets for ``name``/``rrtype``, following CNAMEs."""
        name = name.lower().rstrip(".")
        for _ in range(MAX_CNAME_CHAIN):
            owner = name
            if owner not in self._existing:
                owner = self._wildcard_owner(name) or ""
            rrsets = self.records.get(owner, {})
            if rrtype != "CNAME" and "CNAME" in rrsets:
                name = rrsets["CNAME"][0]
                continue
            return list(rrsets.get(rrtype, []))
        raise ValueError(f"CNAME chain from {name} is longer than {MAX_CNAME_CHAIN}")

    def txt(self, name: str) -> list[str]:
        """Return the TXT records at ``name``, each with its strings joined without spaces."""
        return ["".join(strings) for strings in self.lookup(name, "TXT")]

    def has_address(self, name: str) -> bool:
        return bool(self.lookup(name, "A") or self.lookup(name, "AAAA"))

    def mx(self, name: str) -> list[tuple[int, str]]:
        return list(self.lookup(name, "MX"))

    def write_zone_files(self, directory: Path, serial: int = 1) -> dict[str, Path]:
        """Write one ``<origin>.zone`` file per zone and return origin -> path."""
        directory.mkdir(parents=True, exist_ok=True)
        paths: dict[str, Path] = {}
        for origin in self.origins:
            path = directory / f"{origin}.zone"
            lines = [
                f"$ORIGIN {origin}.",
                f"$TTL {DEFAULT_TTL}",
                f"@ SOA ns1.{origin}. hostmaster.{origin}. {serial} 3600 600 86400 {NEGATIVE_TTL}",
            ]
            for owner in self._owners_by_zone[origin]:
                lines.extend(self._record_lines(owner))
            path.write_text("\n".join(lines) + "\n", encoding="ascii")
            paths[origin] = path
        logger.debug("wrote %d zone files to %s", len(paths), directory)
        return paths

    def _record_lines(self, owner: str) -> Iterable[str]:
        absolute = f"{owner}."
        for rrtype, values in self.records[owner].items():
            for rdata in values:
                if rrtype == "TXT":
                    text = " ".join(_quote(string) for string in rdata)
                elif rrtype == "MX":
                    preference, host = rdata
                    text = f"{preference} {host.rstrip('.')}."
                elif rrtype in ("CNAME", "NS"):
                    text = f"{rdata.rstrip('.')}."
                else:
                    text = str(rdata)
                yield f"{absolute} {rrtype} {text}"
