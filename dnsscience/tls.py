"""Probe TLS servers and judge their certificates: one host or many at once.

:func:`scan_tls` probes one ``host:port`` and :func:`scan_tls_many` probes many
concurrently, yielding each :class:`TlsResult` as it completes. The handshake
accepts any certificate (RSA 1024, SHA-1, expired, self-signed), so every
certificate is collected. The chain is then verified separately, against the
system trust store or ``ca_file``, and the host name is checked per RFC 6125.

Outcomes are data: a refused port, a timeout or an expired certificate is a
result with ``status``, ``error`` and ``findings``. Exceptions are for bad
arguments (:class:`~dnsscience.InvalidArgumentError`) and a CA file that cannot
be loaded (:class:`~dnsscience.ConfigurationError`).
"""

from __future__ import annotations

import copy
import json
import resource
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime, timezone
from typing import Any

from dnsscience import _core
from dnsscience._batch import (
    ProgressCallback,
    check_count,
    iterate_session,
    resolve_nameservers,
)
from dnsscience.results import Finding

__all__ = [
    "STARTTLS_PROTOCOLS",
    "STATUSES",
    "Certificate",
    "ChainCertificate",
    "SubjectAltName",
    "TlsError",
    "TlsResult",
    "default_max_connections",
    "scan_tls",
    "scan_tls_many",
]

#: Summary statuses of a result, from worst to best; "failed" means no certificate.
STATUSES = (
    "failed",
    "expired",
    "not_yet_valid",
    "untrusted",
    "hostname_mismatch",
    "expiring_soon",
    "valid",
)
#: Values of ``starttls``: the plaintext dialogue before the handshake.
STARTTLS_PROTOCOLS = ("none", "smtp", "imap", "pop3")

#: A target of :func:`scan_tls_many`: "host", "host:port", "[v6]:port", a
#: (host, port) tuple, or a mapping with host, port and optionally sni and starttls.
Target = str | tuple[str, int] | Mapping[str, Any]


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(timezone.utc)


def _known(cls: type, data: Mapping[str, Any]) -> dict[str, Any]:
    names = {item.name for item in fields(cls)}
    return {key: value for key, value in data.items() if key in names}


@dataclass(frozen=True)
class TlsError:
    """Why a probe got no certificate: the ``stage`` that failed and the ``reason``.

    Stages are resolve, connect, starttls, handshake and total. ``transient`` is
    true when a later attempt may succeed (timeouts, resets, SMTP 4xx replies).
    """

    stage: str
    reason: str
    detail: str | None = None
    transient: bool = False


@dataclass(frozen=True)
class ChainCertificate:
    """One certificate as the server presented it, leaf first."""

    der_base64: str
    subject: str | None = None
    issuer: str | None = None


@dataclass(frozen=True)
class SubjectAltName:
    """One subjectAltName entry: ``type`` is "dns", "ip", "email" or "uri"."""

    type: str
    value: str


@dataclass(frozen=True)
class Certificate:
    """Fields of the leaf certificate. A field the certificate lacks is None, never invented.

    ``serial`` is the lowercase hex of the DER INTEGER content bytes, so negative
    serials keep their sign bit. Fingerprints are lowercase hex SHA-256.
    """

    subject_cn: str | None = None
    subject_o: str | None = None
    issuer_cn: str | None = None
    issuer_o: str | None = None
    sans: list[SubjectAltName] = field(default_factory=list)
    not_before: datetime | None = None
    not_after: datetime | None = None
    days_until_expiry: int | None = None
    serial: str | None = None
    signature_algorithm: str | None = None
    key_type: str | None = None
    key_bits: int | None = None
    key_curve: str | None = None
    sha256_fingerprint: str | None = None
    spki_sha256: str | None = None
    sct_count: int | None = None
    ocsp_urls: list[str] = field(default_factory=list)
    crl_urls: list[str] = field(default_factory=list)
    ca_issuers_urls: list[str] = field(default_factory=list)
    key_usage: list[str] = field(default_factory=list)
    extended_key_usage: list[str] = field(default_factory=list)
    self_signed: bool | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Certificate:
        values = _known(cls, data)
        values["not_before"] = _parse_time(data.get("not_before"))
        values["not_after"] = _parse_time(data.get("not_after"))
        values["sans"] = [
            SubjectAltName(**_known(SubjectAltName, item)) for item in data.get("sans") or []
        ]
        return cls(**values)


@dataclass(frozen=True)
class TlsResult:
    """The outcome of one probe of one address: connection facts, certificate, verdict.

    ``status`` is one of :data:`STATUSES`. ``error`` is set exactly when status is
    "failed". ``certificate`` is set whenever the server sent one, which includes a
    handshake that failed after the certificate arrived. ``findings`` lists every verdict
    with a stable ``code`` (expired, not_yet_valid, expiring_soon, untrusted,
    hostname_mismatch, self_signed, weak_key, weak_signature, ...).
    :meth:`to_dict` returns the prober's JSON document unchanged.
    """

    host: str
    port: int
    status: str
    sni: str | None = None
    address: str | None = None
    starttls: str = "none"
    attempted_at: datetime | None = None
    elapsed_ms: float = 0.0
    error: TlsError | None = None
    protocol: str | None = None
    cipher: str | None = None
    alpn: str | None = None
    ocsp_stapled: bool | None = None
    trusted: bool | None = None
    verify_error: str | None = None
    verify_error_code: int | None = None
    hostname_match: bool | None = None
    chain: list[ChainCertificate] = field(default_factory=list)
    banner: str | None = None
    certificate: Certificate | None = None
    findings: list[Finding] = field(default_factory=list)
    _document: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TlsResult:
        """Build a result from the prober's JSON document (as a dict)."""
        values = _known(cls, data)
        values.pop("_document", None)
        values["attempted_at"] = _parse_time(data.get("attempted_at"))
        error = data.get("error")
        values["error"] = TlsError(**_known(TlsError, error)) if error else None
        values["chain"] = [
            ChainCertificate(**_known(ChainCertificate, item)) for item in data.get("chain") or []
        ]
        certificate = data.get("certificate")
        values["certificate"] = Certificate.from_dict(certificate) if certificate else None
        values["findings"] = [
            Finding(**_known(Finding, item)) for item in data.get("findings") or []
        ]
        return cls(**values, _document=copy.deepcopy(dict(data)))

    @classmethod
    def from_json(cls, text: str) -> TlsResult:
        return cls.from_dict(json.loads(text))

    def to_dict(self) -> dict[str, Any]:
        """Return the prober's JSON document: plain types, times as ISO 8601 UTC text."""
        return copy.deepcopy(self._document)

    @property
    def failed(self) -> bool:
        """True when the probe got no certificate."""
        return self.status == "failed"

    @property
    def finding_codes(self) -> set[str]:
        """The ``code`` of every finding."""
        return {finding.code for finding in self.findings}

    @property
    def subject_cn(self) -> str | None:
        """The leaf's subject CN, or None without certificate or CN."""
        return self.certificate.subject_cn if self.certificate else None

    @property
    def issuer_cn(self) -> str | None:
        """The leaf's issuer CN, or None without certificate or CN."""
        return self.certificate.issuer_cn if self.certificate else None

    @property
    def not_before(self) -> datetime | None:
        """Start of the leaf's validity, timezone-aware UTC."""
        return self.certificate.not_before if self.certificate else None

    @property
    def not_after(self) -> datetime | None:
        """End of the leaf's validity, timezone-aware UTC."""
        return self.certificate.not_after if self.certificate else None


def _target_item(target: Target) -> str:
    """Return the session item for ``target``: the text itself or a JSON object."""
    if isinstance(target, str):
        if not target.strip():
            raise ValueError("a TLS target must not be empty: give 'host' or 'host:port'")
        return target.strip()
    if isinstance(target, tuple):
        if len(target) != 2:
            raise ValueError(f"a TLS target tuple must be (host, port), not {target!r}")
        host, port = target
        return json.dumps({"host": str(host), "port": int(port)})
    if isinstance(target, Mapping):
        if "host" not in target:
            raise ValueError(f"a TLS target mapping needs a 'host' key: {dict(target)!r}")
        item: dict[str, Any] = {"host": str(target["host"])}
        if target.get("port") is not None:
            item["port"] = int(target["port"])
        if target.get("sni") is not None:
            item["sni"] = str(target["sni"])
        if target.get("starttls") is not None:
            item["starttls"] = _check_starttls(target["starttls"])
        return json.dumps(item)
    raise TypeError(
        f"a TLS target must be a str, a (host, port) tuple or a mapping, "
        f"not {type(target).__name__}"
    )


def _check_starttls(value: Any) -> str:
    if value not in STARTTLS_PROTOCOLS:
        raise ValueError(f"starttls must be one of {STARTTLS_PROTOCOLS}, not {value!r}")
    return str(value)


def _check_seconds(name: str, value: float) -> float:
    if not value > 0:
        raise ValueError(f"{name} must be a positive number of seconds, not {value!r}")
    return float(value)


def default_max_connections(concurrency: int) -> int:
    """Targets in progress at once by default: 4 x ``concurrency``, within the open-file limit.

    A target still waiting for its TCP connect uses a socket but no handshake
    place, so unanswering targets do not delay the others. The limit leaves 64
    descriptors of the soft RLIMIT_NOFILE for the rest of the process.
    """
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    requested = 4 * int(concurrency)
    if soft == resource.RLIM_INFINITY:
        return requested
    return max(1, min(requested, soft - 64))


def _open_session(
    *,
    nameservers: Iterable[str] | str | None,
    ca_file: str | None,
    timeout: float,
    total_timeout: float | None,
    concurrency: int,
    max_connections: int | None,
    max_per_address: int,
    ehlo_name: str | None,
    expiring_days: int,
    probe_all_addresses: bool,
) -> Any:
    timeout = _check_seconds("timeout", timeout)
    total = _check_seconds("total_timeout", total_timeout) if total_timeout else 3 * timeout
    concurrency = check_count("concurrency", concurrency)
    if max_connections is None:
        max_connections = default_max_connections(concurrency)
    max_connections = check_count("max_connections", max_connections)
    max_per_address = check_count("max_per_address", max_per_address)
    options: dict[str, Any] = {
        "nameservers": resolve_nameservers(nameservers),
        "connect_timeout": timeout,
        "starttls_timeout": timeout,
        "handshake_timeout": timeout,
        "total_timeout": total,
        "ca_file": str(ca_file) if ca_file else "",
        "expiring_days": int(expiring_days),
        "max_per_address": int(max_per_address),
        "probe_all_addresses": bool(probe_all_addresses),
        "max_in_flight": int(max_connections),
        "max_handshakes": int(concurrency),
    }
    if ehlo_name:
        options["ehlo_name"] = ehlo_name
    return _core.tls_session(**options)


def _parse_results(text: str) -> list[TlsResult]:
    # One item yields a JSON array when the session probed several addresses of it.
    document = json.loads(text)
    if isinstance(document, list):
        return [TlsResult.from_dict(item) for item in document]
    return [TlsResult.from_dict(document)]


def scan_tls_many(
    targets: Iterable[Target],
    *,
    nameservers: Iterable[str] | str | None = None,
    ca_file: str | None = None,
    timeout: float = 5.0,
    total_timeout: float | None = None,
    concurrency: int = 500,
    max_connections: int | None = None,
    max_per_address: int = 2,
    ehlo_name: str | None = None,
    expiring_days: int = 30,
    probe_all_addresses: bool = False,
    progress: ProgressCallback | None = None,
) -> Iterator[TlsResult]:
    """Probe many targets concurrently and yield each result as it completes.

    Results arrive in completion order, not input order. A target that fails
    (unresolvable name, refused port, bad handshake) yields a failed result and
    never aborts the batch.

    Args:
        targets: each a "host", "host:port" or "[IPv6]:port" text, a (host, port)
            tuple, or a mapping {"host", "port", "sni", "starttls"}. The port
            defaults to 443. STARTTLS follows the port (25 and 587 SMTP, 143 IMAP,
            110 POP3) unless "starttls" is given.
        nameservers: "ip:port" strings for name resolution. None means
            ``DNSSCIENCE_NAMESERVERS`` if set, else the system resolver.
        ca_file: PEM trust anchors for verification; None uses the system store.
        timeout: deadline in seconds of each of connect, STARTTLS dialogue and
            handshake.
        total_timeout: deadline in seconds of a whole target; default 3 x timeout.
        concurrency: handshakes (and STARTTLS dialogues) at once; targets still
            waiting for their TCP connect do not count.
        max_connections: targets in progress at once, TCP connects included.
            None means 4 x ``concurrency``, within the open-file limit (see
            ``default_max_connections``).
        max_per_address: connections open at once to one IP address.
        ehlo_name: the SMTP EHLO argument.
        expiring_days: a certificate expiring sooner is "expiring_soon".
        probe_all_addresses: probe every address of a name, yielding one result each.
        progress: called as ``progress(done, total)`` from the calling thread.

    The probes run in C++ with the GIL released. Ctrl-C (KeyboardInterrupt)
    stops the iteration within a second.
    """
    items = [_target_item(target) for target in targets]
    # The session opens here, not on the first next(), so bad arguments raise at the
    # call: this function returns a generator instead of being one.
    session = _open_session(
        nameservers=nameservers,
        ca_file=ca_file,
        timeout=timeout,
        total_timeout=total_timeout,
        concurrency=concurrency,
        max_connections=max_connections,
        max_per_address=max_per_address,
        ehlo_name=ehlo_name,
        expiring_days=expiring_days,
        probe_all_addresses=probe_all_addresses,
    )
    return _flatten(iterate_session(session, items, _parse_results, progress))


def _flatten(batches: Iterator[list[TlsResult]]) -> Iterator[TlsResult]:
    for results in batches:
        yield from results


def scan_tls(
    host: str,
    port: int = 443,
    *,
    sni: str | None = None,
    starttls: str | None = None,
    ca_file: str | None = None,
    nameservers: Iterable[str] | str | None = None,
    timeout: float = 5.0,
) -> TlsResult:
    """Probe ``host`` on ``port`` and return the result for its first address.

    ``sni`` defaults to ``host`` for a name and to none for an IP literal.
    ``starttls`` ("none", "smtp", "imap", "pop3") defaults to what the port implies.
    Raises :class:`~dnsscience.InvalidArgumentError` for an invalid host or port.
    """
    if not isinstance(host, str) or not host.strip():
        raise ValueError(f"host must be a non-empty str, not {host!r}")
    if not 1 <= int(port) <= 65535:
        raise ValueError(f"port must be in 1..65535, not {port!r}")
    target: dict[str, Any] = {"host": host, "port": int(port)}
    if sni is not None:
        target["sni"] = sni
    if starttls is not None:
        target["starttls"] = _check_starttls(starttls)
    results = list(
        scan_tls_many([target], nameservers=nameservers, ca_file=ca_file, timeout=timeout)
    )
    return results[0]
