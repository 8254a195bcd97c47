"""Storage of TLS probe results: claims, attempts, certificates, changes and alerts.

The tables come from migration ``003_tls.sql``. Both SSL daemons use this module:

- :func:`claim_due_for_scan` (ssl_scanner) and :func:`claim_expiring`
  (ssl_monitord) lease due domains. The lease lives in the ``domains`` row and is
  taken under ``FOR UPDATE SKIP LOCKED``, so two daemons or two instances never
  hold the same domain at once.
- :func:`store_results` writes a batch of prober results (the JSON documents of
  ``_core.tls_session``) in one transaction. The batch travels as one JSON
  parameter that each statement expands in SQL.
- :func:`release_claims` gives back domains a stopping daemon did not finish.
- :func:`delete_old_attempts` applies the retention period of ``tls_scan_attempts``.

Legacy ``timestamp`` columns (``ssl_certificates``, ``domains.last_ssl_scan``)
receive UTC wall-clock times whatever the session's time zone. New columns are
``timestamptz``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

logger = logging.getLogger(__name__)

__all__ = [
    "ALERT_EXPIRING_DAYS",
    "ALERT_HIGH_DAYS",
    "Alert",
    "ClaimedDomain",
    "alerts_for",
    "claim_due_for_scan",
    "claim_expiring",
    "delete_old_attempts",
    "release_claims",
    "store_results",
]

#: A certificate expiring within this many days raises an ``expiring`` alert...
ALERT_EXPIRING_DAYS = 30
#: ...with severity ``high`` under this many days, ``medium`` otherwise.
ALERT_HIGH_DAYS = 7

#: OpenSSL verify errors that concern the leaf's validity dates, which the
#: ``expired`` and ``expiring`` alerts already report (X509_V_ERR_CERT_NOT_YET_VALID,
#: X509_V_ERR_CERT_HAS_EXPIRED).
_DATE_VERIFY_ERRORS = frozenset({9, 10})

_NOW_UTC = "(now() AT TIME ZONE 'UTC')"

# Both claims lease with $1 = instance and $2 = lease seconds. The lease is
# re-checked on the row FOR UPDATE locks, so a row leased meanwhile is skipped.
_CLAIM_TEMPLATE = """
UPDATE domains AS d
SET tls_lease_owner = $1,
    tls_lease_expires_at = now() + make_interval(secs => $2::int)
WHERE d.id IN (
    SELECT id
    FROM domains
    WHERE is_active IS NOT FALSE
      AND (tls_lease_expires_at IS NULL OR tls_lease_expires_at < now())
      AND {due}
    ORDER BY {order}
    LIMIT {limit}
    FOR UPDATE SKIP LOCKED
)
RETURNING {returning}
"""

# $3 = rescan days, $4 = limit.
_CLAIM_DUE_FOR_SCAN = _CLAIM_TEMPLATE.format(
    due=f"""CASE
            WHEN tls_next_attempt_at IS NOT NULL THEN tls_next_attempt_at <= now()
            ELSE last_ssl_scan IS NULL
                 OR last_ssl_scan < {_NOW_UTC} - make_interval(days => $3::int)
          END""",
    order="coalesce(tls_next_attempt_at, last_ssl_scan AT TIME ZONE 'UTC') NULLS FIRST, id",
    limit="$4::int",
    returning="d.id, d.domain_name",
)

# $3 = recheck hours, $4 = expiry window in days, $5 = limit.
_EXPIRING_WINDOW = f"expires_at < {_NOW_UTC} + make_interval(days => $4::int)"
_CLAIM_EXPIRING = _CLAIM_TEMPLATE.format(
    due=f"""CASE
            WHEN tls_failure_count > 0 AND tls_next_attempt_at IS NOT NULL
              THEN tls_next_attempt_at <= now()
            ELSE last_ssl_scan IS NULL
                 OR last_ssl_scan < {_NOW_UTC} - make_interval(hours => $3::int)
          END
      AND domain_name IN (SELECT domain_name FROM ssl_certificates WHERE {_EXPIRING_WINDOW})""",
    order="last_ssl_scan NULLS FIRST, id",
    limit="$5::int",
    returning=f"""d.id, d.domain_name,
    (SELECT string_agg(c.port::text, ',' ORDER BY c.port)
     FROM ssl_certificates AS c
     WHERE c.domain_name = d.domain_name AND c.{_EXPIRING_WINDOW})""",
)

_RELEASE_CLAIMS = """
UPDATE domains
SET tls_lease_owner = NULL, tls_lease_expires_at = NULL
WHERE id = ANY($1::int[]) AND tls_lease_owner = $2
"""

_INSERT_ATTEMPTS = """
INSERT INTO tls_scan_attempts (
    domain_id, domain_name, port, address, sni, starttls, attempted_at, elapsed_ms,
    status, stage, reason, detail, transient, protocol, cipher, sha256_fingerprint,
    banner, daemon)
SELECT (r->>'domain_id')::int, r->>'domain_name', (r->>'port')::int, r->>'address',
       r->>'sni', r->>'starttls', (r->>'attempted_at')::timestamptz,
       round((r->>'elapsed_ms')::numeric)::int, r->>'status', r->'error'->>'stage',
       r->'error'->>'reason', r->'error'->>'detail', (r->'error'->>'transient')::boolean,
       r->>'protocol', r->>'cipher', r->'certificate'->>'sha256_fingerprint',
       left(r->>'banner', 1000), $2
FROM jsonb_array_elements($1::jsonb) AS r
"""

# Runs before the certificate_details upsert, so it compares with the previous
# certificate of each (domain, port).
_INSERT_CHANGES = """
INSERT INTO certificate_changes (
    domain_name, port, detected_at, sha256_fingerprint, previous_sha256_fingerprint,
    subject_cn, issuer_cn, serial, not_before, not_after)
SELECT r->>'domain_name', (r->>'port')::int, (r->>'attempted_at')::timestamptz,
       r->'certificate'->>'sha256_fingerprint', previous.sha256_fingerprint,
       r->'certificate'->>'subject_cn', r->'certificate'->>'issuer_cn',
       r->'certificate'->>'serial', (r->'certificate'->>'not_before')::timestamptz,
       (r->'certificate'->>'not_after')::timestamptz
FROM jsonb_array_elements($1::jsonb) AS r
LEFT JOIN certificate_details AS previous
    ON previous.domain_name = r->>'domain_name' AND previous.port = (r->>'port')::int
WHERE previous.sha256_fingerprint IS DISTINCT FROM r->'certificate'->>'sha256_fingerprint'
"""

_UPSERT_DETAILS = """
INSERT INTO certificate_details AS d (
    domain_name, port, address, sni, starttls, status, findings, trusted, verify_error,
    verify_error_code, hostname_match, protocol, cipher, alpn, ocsp_stapled,
    subject_cn, subject_o, issuer_cn, issuer_o, sans, not_before, not_after, serial,
    signature_algorithm, key_type, key_bits, key_curve, sha256_fingerprint, spki_sha256,
    sct_count, ocsp_urls, crl_urls, ca_issuers_urls, key_usage, extended_key_usage,
    self_signed, chain, first_seen_at, last_seen_at)
SELECT r->>'domain_name', (r->>'port')::int, r->>'address', r->>'sni', r->>'starttls',
       r->>'status', coalesce(r->'findings', '[]'), (r->>'trusted')::boolean,
       r->>'verify_error', (r->>'verify_error_code')::int,
       (r->>'hostname_match')::boolean, r->>'protocol', r->>'cipher', r->>'alpn',
       (r->>'ocsp_stapled')::boolean,
       c->>'subject_cn', c->>'subject_o', c->>'issuer_cn', c->>'issuer_o',
       coalesce(c->'sans', '[]'), (c->>'not_before')::timestamptz,
       (c->>'not_after')::timestamptz, c->>'serial', c->>'signature_algorithm',
       c->>'key_type', (c->>'key_bits')::int, c->>'key_curve', c->>'sha256_fingerprint',
       c->>'spki_sha256', (c->>'sct_count')::int, coalesce(c->'ocsp_urls', '[]'),
       coalesce(c->'crl_urls', '[]'), coalesce(c->'ca_issuers_urls', '[]'),
       coalesce(c->'key_usage', '[]'), coalesce(c->'extended_key_usage', '[]'),
       (c->>'self_signed')::boolean, coalesce(r->'chain', '[]'),
       (r->>'attempted_at')::timestamptz, (r->>'attempted_at')::timestamptz
FROM jsonb_array_elements($1::jsonb) AS r
CROSS JOIN LATERAL (SELECT r->'certificate' AS c) AS certificate
ON CONFLICT (domain_name, port) DO UPDATE SET
    address = EXCLUDED.address, sni = EXCLUDED.sni, starttls = EXCLUDED.starttls,
    status = EXCLUDED.status, findings = EXCLUDED.findings, trusted = EXCLUDED.trusted,
    verify_error = EXCLUDED.verify_error, verify_error_code = EXCLUDED.verify_error_code,
    hostname_match = EXCLUDED.hostname_match, protocol = EXCLUDED.protocol,
    cipher = EXCLUDED.cipher, alpn = EXCLUDED.alpn, ocsp_stapled = EXCLUDED.ocsp_stapled,
    subject_cn = EXCLUDED.subject_cn, subject_o = EXCLUDED.subject_o,
    issuer_cn = EXCLUDED.issuer_cn, issuer_o = EXCLUDED.issuer_o, sans = EXCLUDED.sans,
    not_before = EXCLUDED.not_before, not_after = EXCLUDED.not_after,
    serial = EXCLUDED.serial, signature_algorithm = EXCLUDED.signature_algorithm,
    key_type = EXCLUDED.key_type, key_bits = EXCLUDED.key_bits,
    key_curve = EXCLUDED.key_curve, sha256_fingerprint = EXCLUDED.sha256_fingerprint,
    spki_sha256 = EXCLUDED.spki_sha256, sct_count = EXCLUDED.sct_count,
    ocsp_urls = EXCLUDED.ocsp_urls, crl_urls = EXCLUDED.crl_urls,
    ca_issuers_urls = EXCLUDED.ca_issuers_urls, key_usage = EXCLUDED.key_usage,
    extended_key_usage = EXCLUDED.extended_key_usage, self_signed = EXCLUDED.self_signed,
    chain = EXCLUDED.chain,
    first_seen_at = CASE WHEN d.sha256_fingerprint = EXCLUDED.sha256_fingerprint
                         THEN d.first_seen_at ELSE EXCLUDED.first_seen_at END,
    last_seen_at = EXCLUDED.last_seen_at
"""

# The legacy columns, as both original daemons wrote them: valid_from is notBefore,
# valid_to and expires_at are both notAfter, created_at is kept on conflict. CNs stay
# NULL when the certificate has none.
_UPSERT_SSL_CERTIFICATES = f"""
INSERT INTO ssl_certificates (
    domain_name, port, subject_cn, issuer_cn, valid_from, valid_to, expires_at,
    last_checked, created_at)
SELECT r->>'domain_name', (r->>'port')::int,
       left(r->'certificate'->>'subject_cn', 255), left(r->'certificate'->>'issuer_cn', 255),
       (r->'certificate'->>'not_before')::timestamptz AT TIME ZONE 'UTC',
       (r->'certificate'->>'not_after')::timestamptz AT TIME ZONE 'UTC',
       (r->'certificate'->>'not_after')::timestamptz AT TIME ZONE 'UTC',
       {_NOW_UTC}, {_NOW_UTC}
FROM jsonb_array_elements($1::jsonb) AS r
ON CONFLICT (domain_name, port) DO UPDATE SET
    subject_cn = EXCLUDED.subject_cn,
    issuer_cn = EXCLUDED.issuer_cn,
    valid_from = EXCLUDED.valid_from,
    valid_to = EXCLUDED.valid_to,
    expires_at = EXCLUDED.expires_at,
    last_checked = EXCLUDED.last_checked
"""

_RAISE_ALERTS = """
INSERT INTO tls_alerts AS a (
    domain_name, port, kind, severity, message, sha256_fingerprint, not_after,
    raised_at, last_seen_at, resolved_at)
SELECT x->>'domain_name', (x->>'port')::int, x->>'kind', x->>'severity', x->>'message',
       x->>'sha256_fingerprint', (x->>'not_after')::timestamptz,
       (x->>'seen_at')::timestamptz, (x->>'seen_at')::timestamptz, NULL
FROM jsonb_array_elements($1::jsonb) AS x
ON CONFLICT (domain_name, port, kind) DO UPDATE SET
    severity = EXCLUDED.severity,
    message = EXCLUDED.message,
    sha256_fingerprint = EXCLUDED.sha256_fingerprint,
    not_after = EXCLUDED.not_after,
    raised_at = CASE WHEN a.resolved_at IS NULL THEN a.raised_at ELSE EXCLUDED.raised_at END,
    last_seen_at = EXCLUDED.last_seen_at,
    resolved_at = NULL
"""

# $1: the (domain, port) pairs whose certificate was judged in this batch; $2: the
# alerts that hold for them. Every other open alert of those pairs has ended.
_RESOLVE_ALERTS = """
UPDATE tls_alerts AS a
SET resolved_at = (checked->>'seen_at')::timestamptz
FROM jsonb_array_elements($1::jsonb) AS checked
WHERE a.resolved_at IS NULL
  AND a.domain_name = checked->>'domain_name'
  AND a.port = (checked->>'port')::int
  AND NOT EXISTS (
      SELECT 1 FROM jsonb_array_elements($2::jsonb) AS x
      WHERE x->>'domain_name' = a.domain_name
        AND (x->>'port')::int = a.port
        AND x->>'kind' = a.kind)
"""

# Every attempt stamps last_ssl_scan. A domain that only failed transiently is
# retried after 1 hour, doubling per failure up to 1 day. Any other outcome makes
# it due again after the rescan period.
_UPDATE_DOMAINS = f"""
UPDATE domains AS d
SET last_ssl_scan = {_NOW_UTC},
    tls_failure_count = CASE WHEN o.transient THEN d.tls_failure_count + 1 ELSE 0 END,
    tls_next_attempt_at = CASE
        WHEN o.transient
          THEN now() + least(interval '1 hour' * power(2, least(d.tls_failure_count, 10)),
                             interval '1 day')
        ELSE now() + make_interval(days => $2::int)
      END,
    tls_lease_owner = NULL,
    tls_lease_expires_at = NULL
FROM jsonb_to_recordset($1::jsonb) AS o(domain_id int, transient boolean)
WHERE d.id = o.domain_id
  AND (d.tls_lease_owner IS NULL OR d.tls_lease_owner = $3)
"""

_DELETE_OLD_ATTEMPTS = """
DELETE FROM tls_scan_attempts
WHERE id IN (
    SELECT id FROM tls_scan_attempts
    WHERE attempted_at < now() - make_interval(days => $1::int)
    LIMIT $2::int
)
"""


@dataclass(frozen=True)
class ClaimedDomain:
    """A domain leased to this instance; ``ports`` lists the ports to probe, if fixed."""

    domain_id: int
    domain_name: str
    ports: tuple[int, ...] = ()


@dataclass(frozen=True)
class Alert:
    """One alert condition that holds for a (domain, port) certificate."""

    domain_name: str
    port: int
    kind: str
    severity: str
    message: str
    sha256_fingerprint: str | None
    not_after: str | None
    seen_at: str

    def to_json(self) -> dict[str, Any]:
        return {
            "domain_name": self.domain_name,
            "port": self.port,
            "kind": self.kind,
            "severity": self.severity,
            "message": self.message,
            "sha256_fingerprint": self.sha256_fingerprint,
            "not_after": self.not_after,
            "seen_at": self.seen_at,
        }


def claim_due_for_scan(
    connection: Any, *, limit: int, rescan_days: int, instance: str, lease_seconds: int
) -> list[ClaimedDomain]:
    """Lease up to ``limit`` active domains that are due for a TLS scan.

    Due: never scanned, last scanned over ``rescan_days`` ago, or a transient
    failure's retry time has come. Domains leased by another instance are skipped.
    """
    _require_positive(limit=limit, rescan_days=rescan_days, lease_seconds=lease_seconds)
    _columns, rows, _count = connection.execute(
        _CLAIM_DUE_FOR_SCAN, [instance, str(lease_seconds), str(rescan_days), str(limit)]
    )
    return [ClaimedDomain(int(domain_id), name) for domain_id, name in rows]


def claim_expiring(
    connection: Any,
    *,
    limit: int,
    within_days: int,
    recheck_hours: int,
    instance: str,
    lease_seconds: int,
) -> list[ClaimedDomain]:
    """Lease up to ``limit`` active domains with a certificate expiring within ``within_days``.

    Already expired certificates count, so their alerts resolve once they are
    renewed. A domain qualifies once ``recheck_hours`` have passed since its last
    scan, or when its transient-failure retry time has come. ``ports`` of each
    claim lists the ports of its expiring certificates.
    """
    _require_positive(
        limit=limit,
        within_days=within_days,
        recheck_hours=recheck_hours,
        lease_seconds=lease_seconds,
    )
    parameters = [instance, str(lease_seconds), str(recheck_hours), str(within_days), str(limit)]
    _columns, rows, _count = connection.execute(_CLAIM_EXPIRING, parameters)
    claims = []
    for domain_id, name, ports in rows:
        port_list = tuple(int(port) for port in ports.split(",")) if ports else ()
        claims.append(ClaimedDomain(int(domain_id), name, port_list))
    return claims


def release_claims(connection: Any, domain_ids: Iterable[int], instance: str) -> int:
    """Give back leases this instance holds without stamping the domains; return the count."""
    ids = sorted(set(domain_ids))
    if not ids:
        return 0
    array = "{" + ",".join(str(domain_id) for domain_id in ids) + "}"
    _columns, _rows, count = connection.execute(_RELEASE_CLAIMS, [array, instance])
    return int(count)


def delete_old_attempts(connection: Any, retention_days: int, limit: int = 10000) -> int:
    """Delete up to ``limit`` attempts older than ``retention_days``; return how many."""
    _require_positive(retention_days=retention_days, limit=limit)
    _columns, _rows, count = connection.execute(
        _DELETE_OLD_ATTEMPTS, [str(retention_days), str(limit)]
    )
    return int(count)


def store_results(
    connection: Any,
    results: Sequence[Mapping[str, Any]],
    *,
    instance: str,
    daemon: str,
    rescan_days: int,
    claimed: Iterable[ClaimedDomain] = (),
) -> None:
    """Write a batch of prober results and finish the claims, in one transaction.

    Each result is a prober result document plus ``domain_id`` and ``domain_name``
    (the names as in ``domains``). Every result becomes an attempt row. Per
    (domain, port), the first result with a certificate updates
    ``certificate_details``, ``ssl_certificates``, ``certificate_changes`` and the
    alerts, and a failed result changes none of them. Every domain of ``results``
    and ``claimed`` gets ``last_ssl_scan`` stamped, its next attempt scheduled and
    its lease released. A claimed domain without results counts as a permanent
    failure.
    """
    _require_positive(rescan_days=rescan_days)
    attempts = [dict(result) for result in results]
    for attempt in attempts:
        if attempt.get("domain_id") is None or not attempt.get("domain_name"):
            raise ValueError(
                f"result for {attempt.get('host')!r} lacks domain_id or domain_name: "
                "add them from the claim before storing"
            )

    certificates = _first_certificate_per_port(attempts)
    alerts = [alert for result in certificates for alert in alerts_for(result)]
    checked = [
        {
            "domain_name": result["domain_name"],
            "port": result["port"],
            "seen_at": result["attempted_at"],
        }
        for result in certificates
    ]
    outcomes = _domain_outcomes(attempts, claimed)

    attempts_json = json.dumps(attempts)
    certificates_json = json.dumps(certificates)
    alerts_json = json.dumps([alert.to_json() for alert in alerts])
    statements = [
        (_INSERT_ATTEMPTS, [attempts_json, daemon]),
        (_INSERT_CHANGES, [certificates_json]),
        (_UPSERT_DETAILS, [certificates_json]),
        (_UPSERT_SSL_CERTIFICATES, [certificates_json]),
        (_RAISE_ALERTS, [alerts_json]),
        (_RESOLVE_ALERTS, [json.dumps(checked), alerts_json]),
        (_UPDATE_DOMAINS, [json.dumps(outcomes), str(rescan_days), instance]),
    ]
    connection.transaction(statements)
    logger.debug(
        "stored %d TLS attempts, %d certificates, %d alerts for %d domains",
        len(attempts),
        len(certificates),
        len(alerts),
        len(outcomes),
    )


def alerts_for(result: Mapping[str, Any]) -> list[Alert]:
    """Return the alert conditions that hold for one result with a certificate.

    - ``expired`` (high): not_after has passed.
    - ``expiring``: under 30 days remain, high under 7 days and medium otherwise,
      from the exact remaining time rather than whole days.
    - ``untrusted`` (medium): the chain failed verification for a reason other
      than the leaf's dates.
    - ``hostname_mismatch`` (medium): the name check failed.
    """
    certificate = result.get("certificate")
    if not certificate:
        return []
    seen_at = result["attempted_at"]
    now = _parse_time(seen_at)
    not_after_text = certificate.get("not_after")
    fingerprint = certificate.get("sha256_fingerprint")
    domain_name = result["domain_name"]
    port = int(result["port"])

    def alert(kind: str, severity: str, message: str) -> Alert:
        return Alert(
            domain_name, port, kind, severity, message, fingerprint, not_after_text, seen_at
        )

    alerts = []
    if not_after_text:
        remaining = _parse_time(not_after_text) - now
        if remaining <= timedelta(0):
            alerts.append(alert("expired", "high", f"Certificate expired on {not_after_text}"))
        elif remaining < timedelta(days=ALERT_EXPIRING_DAYS):
            severity = "high" if remaining < timedelta(days=ALERT_HIGH_DAYS) else "medium"
            days = remaining.total_seconds() / 86400
            alerts.append(
                alert(
                    "expiring",
                    severity,
                    f"Certificate expires in {days:.1f} days ({not_after_text})",
                )
            )
    verify_code = result.get("verify_error_code")
    if result.get("trusted") is False and verify_code not in _DATE_VERIFY_ERRORS:
        reason = result.get("verify_error") or "unknown verify error"
        alerts.append(alert("untrusted", "medium", f"Certificate chain is not trusted: {reason}"))
    if result.get("hostname_match") is False:
        sni = result.get("sni") or domain_name
        alerts.append(
            alert("hostname_mismatch", "medium", f"Certificate does not match the name {sni}")
        )
    return alerts


def _first_certificate_per_port(results: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    # ON CONFLICT cannot update one row twice in a statement, so keep one result per
    # (domain, port): the first with a certificate, as with several addresses.
    chosen: dict[tuple[str, int], dict[str, Any]] = {}
    for result in results:
        if not result.get("certificate"):
            continue
        key = (result["domain_name"], int(result["port"]))
        chosen.setdefault(key, dict(result))
    return list(chosen.values())


def _domain_outcomes(
    results: Sequence[Mapping[str, Any]], claimed: Iterable[ClaimedDomain]
) -> list[dict[str, Any]]:
    # A domain's attempt is transient when no port gave a certificate and at least
    # one failure was transient.
    got_certificate: dict[int, bool] = {}
    any_transient: dict[int, bool] = {}
    for claim in claimed:
        got_certificate.setdefault(claim.domain_id, False)
        any_transient.setdefault(claim.domain_id, False)
    for result in results:
        domain_id = int(result["domain_id"])
        got_certificate[domain_id] = got_certificate.get(domain_id, False) or bool(
            result.get("certificate")
        )
        error = result.get("error") or {}
        any_transient[domain_id] = any_transient.get(domain_id, False) or bool(
            error.get("transient")
        )
    return [
        {
            "domain_id": domain_id,
            "transient": any_transient[domain_id] and not got_certificate[domain_id],
        }
        for domain_id in sorted(got_certificate)
    ]


def _parse_time(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment


def _require_positive(**values: int) -> None:
    for name, value in values.items():
        if value <= 0:
            raise ValueError(f"{name} must be a positive integer, not {value!r}")


# -- schema requirements ---------------------------------------------------------
# Declared for dnsscience.store.schema.check, which the daemons run at startup: a
# database without migration 003 stops them with "run 'dnsscience db migrate'".

_TIMESTAMPTZ = ("timestamptz",)


def _columns(types: tuple[str, ...], *names: str) -> tuple[Any, ...]:
    from dnsscience.store.statements import ColumnRequirement

    return tuple(ColumnRequirement(name, types) for name in names)


def _requirements() -> list[Any]:
    from dnsscience.store.statements import (
        BOOL,
        INT,
        JSONB,
        TEXT,
        TIMESTAMP,
        IndexRequirement,
        SqlStatement,
        TableRequirement,
    )

    domains = TableRequirement(
        "domains",
        _columns(INT, "id", "tls_failure_count")
        + _columns(TEXT, "domain_name", "tls_lease_owner")
        + _columns(BOOL, "is_active")
        + _columns(TIMESTAMP, "last_ssl_scan")
        + _columns(_TIMESTAMPTZ, "tls_next_attempt_at", "tls_lease_expires_at"),
    )
    attempts = TableRequirement(
        "tls_scan_attempts",
        _columns(INT, "domain_id", "port", "elapsed_ms")
        + _columns(
            TEXT,
            "domain_name",
            "address",
            "sni",
            "starttls",
            "status",
            "stage",
            "reason",
            "detail",
            "protocol",
            "cipher",
            "sha256_fingerprint",
            "banner",
            "daemon",
        )
        + _columns(BOOL, "transient")
        + _columns(_TIMESTAMPTZ, "attempted_at"),
    )
    details = TableRequirement(
        "certificate_details",
        _columns(INT, "port", "verify_error_code", "key_bits", "sct_count")
        + _columns(
            TEXT,
            "domain_name",
            "status",
            "subject_cn",
            "issuer_cn",
            "serial",
            "sha256_fingerprint",
            "spki_sha256",
            "key_type",
            "signature_algorithm",
        )
        + _columns(JSONB, "findings", "sans", "chain")
        + _columns(_TIMESTAMPTZ, "not_before", "not_after", "first_seen_at", "last_seen_at"),
        (
            IndexRequirement(
                ("domain_name", "port"),
                unique=True,
                purpose="ON CONFLICT (domain_name, port) of the details upsert",
            ),
        ),
    )
    changes = TableRequirement(
        "certificate_changes",
        _columns(TEXT, "domain_name", "sha256_fingerprint", "previous_sha256_fingerprint")
        + _columns(INT, "port")
        + _columns(_TIMESTAMPTZ, "detected_at"),
    )
    alerts = TableRequirement(
        "tls_alerts",
        _columns(TEXT, "domain_name", "kind", "severity", "message")
        + _columns(INT, "port")
        + _columns(_TIMESTAMPTZ, "raised_at", "last_seen_at", "resolved_at"),
        (
            IndexRequirement(
                ("domain_name", "port", "kind"),
                unique=True,
                purpose="ON CONFLICT (domain_name, port, kind) of the alert upsert",
            ),
        ),
    )
    return [
        SqlStatement(
            "tls_store",
            "",
            ("ssl_scanner", "ssl_monitord"),
            (domains, attempts, details, changes, alerts),
        )
    ]


def _register_requirements() -> None:
    from dnsscience.store import schema

    schema.register_statements(_requirements())


_register_requirements()
