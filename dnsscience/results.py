"""Typed email security results.

:class:`EmailResult` mirrors the JSON document that the C++ core produces for one
domain. Its attributes use the legacy column names of ``email_security_records``
(``has_mx``, ``mx_records``, ``spf_valid``, ...) plus the richer fields that only
dnsscience measures (lookup statuses, findings, DKIM key details).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from typing import Any

__all__ = [
    "DkimKey",
    "DmarcRecord",
    "EmailResult",
    "Finding",
    "MxHost",
    "TRANSIENT_STATUSES",
]

#: Lookup statuses that a later query may change. A lookup that ends in one of them
#: never counts as "no record".
TRANSIENT_STATUSES = frozenset({"timeout", "servfail", "refused", "error"})


@dataclass(frozen=True)
class Finding:
    """One observation about a record, with a stable code such as ``spf.plus_all``."""

    code: str
    severity: str
    message: str


@dataclass(frozen=True)
class MxHost:
    """One MX record: preference and exchange host name."""

    preference: int
    exchange: str


@dataclass(frozen=True)
class DmarcRecord:
    """The tags of the DMARC record in force (RFC 7489 section 6.3)."""

    p: str | None = None
    sp: str | None = None
    pct: int | None = None
    rua: list[str] = field(default_factory=list)
    ruf: list[str] = field(default_factory=list)
    adkim: str | None = None
    aspf: str | None = None
    fo: str | None = None
    ri: int | None = None


@dataclass(frozen=True)
class DkimKey:
    """A DKIM key record found at ``<selector>._domainkey.<domain>``."""

    selector: str
    key_type: str | None = None
    key_bits: int | None = None
    revoked: bool = False
    testing: bool = False
    record: str | None = None


def _parse_timestamp(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(timezone.utc)


def _build(cls: type, data: dict[str, Any]) -> Any:
    names = {item.name for item in fields(cls)}
    return cls(**{key: value for key, value in data.items() if key in names})


@dataclass(frozen=True)
class EmailResult:
    """The email security of one domain.

    ``complete`` is false when at least one lookup ended transiently (timeout,
    SERVFAIL, REFUSED or another error); ``lookups`` names the status of each one.
    ``error`` is set only when the domain could not be checked at all, for example
    because its name is invalid.
    """

    domain: str
    checked_at: datetime | None = None
    elapsed_ms: float = 0.0
    complete: bool = False
    error: str | None = None
    lookups: dict[str, str] = field(default_factory=dict)

    has_mx: bool = False
    mx_records: list[str] = field(default_factory=list)
    mx_count: int = 0
    null_mx: bool = False
    mx: list[MxHost] = field(default_factory=list)

    has_spf: bool = False
    spf_record: str | None = None
    spf_records: list[str] = field(default_factory=list)
    spf_valid: bool = False
    spf_result: str | None = None
    spf_lookup_count: int = 0
    spf_void_lookup_count: int = 0
    spf_all: str | None = None

    has_dmarc: bool = False
    dmarc_record: str | None = None
    dmarc_records: list[str] = field(default_factory=list)
    dmarc_policy: str | None = None
    dmarc: DmarcRecord | None = None

    has_dkim: bool = False
    dkim_selectors: list[str] = field(default_factory=list)
    dkim: list[DkimKey] = field(default_factory=list)

    has_mta_sts: bool = False
    mta_sts_record: str | None = None
    mta_sts_id: str | None = None

    has_tls_rpt: bool = False
    tls_rpt_record: str | None = None
    tls_rpt_rua: list[str] = field(default_factory=list)

    has_bimi: bool = False
    bimi_record: str | None = None
    bimi_location: str | None = None
    bimi_authority: str | None = None

    findings: list[Finding] = field(default_factory=list)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EmailResult:
        """Build a result from the core's JSON document; unknown keys are ignored."""
        values = dict(data)
        values["checked_at"] = _parse_timestamp(values.get("checked_at"))
        values["mx"] = [_build(MxHost, item) for item in values.get("mx") or []]
        values["dkim"] = [_build(DkimKey, item) for item in values.get("dkim") or []]
        values["findings"] = [_build(Finding, item) for item in values.get("findings") or []]
        if values.get("dmarc"):
            values["dmarc"] = _build(DmarcRecord, values["dmarc"])
        for key in ("mx_records", "spf_records", "dmarc_records", "dkim_selectors", "tls_rpt_rua"):
            values[key] = list(values.get(key) or [])
        values["lookups"] = dict(values.get("lookups") or {})
        return _build(cls, values)

    @classmethod
    def from_json(cls, text: str) -> EmailResult:
        """Build a result from the core's JSON text."""
        return cls.from_dict(json.loads(text))

    @property
    def transient_lookups(self) -> list[str]:
        """Names of the lookups that ended transiently (timeout, SERVFAIL, ...)."""
        return [name for name, status in self.lookups.items() if status in TRANSIENT_STATUSES]

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict with the same keys as the core's document."""
        data = asdict(self)
        if self.checked_at is not None:
            data["checked_at"] = self.checked_at.strftime("%Y-%m-%dT%H:%M:%SZ")
        return data
