"""Stored email and TLS results as records (dicts) or pandas DataFrames.

:func:`email_results` reads through :func:`dnsscience.store.results.email_results`
and :func:`tls_results` joins ``ssl_certificates`` with ``certificate_details``.
With ``history=True`` each record also gets its past: the last 20 check attempts,
and for TLS the certificate changes. Times are ISO 8601 text in UTC. With
``as_dataframe=True`` the records become a ``pandas.DataFrame`` (install the
``pandas`` extra).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from dnsscience.errors import InvalidArgumentError
from dnsscience.store import results
from dnsscience.store.values import to_param

__all__ = ["HISTORY_ATTEMPTS", "email_results", "tls_results"]

#: Attempts listed per record with ``history=True``, newest first.
HISTORY_ATTEMPTS = 20

_UTC_TEXT = '\'YYYY-MM-DD"T"HH24:MI:SS"Z"\''

# $1: JSON array of domain names or NULL for all; $2: maximum rows. Each row is one
# JSON object, so booleans, numbers and arrays keep their types.
_SELECT_TLS = f"""
SELECT jsonb_build_object(
    'domain_name', coalesce(d.domain_name, c.domain_name),
    'port', coalesce(d.port, c.port),
    'status', d.status,
    'subject_cn', coalesce(d.subject_cn, c.subject_cn),
    'issuer_cn', coalesce(d.issuer_cn, c.issuer_cn),
    'not_before', coalesce(to_char(d.not_before AT TIME ZONE 'UTC', {_UTC_TEXT}),
                           to_char(c.valid_from, {_UTC_TEXT})),
    'not_after', coalesce(to_char(d.not_after AT TIME ZONE 'UTC', {_UTC_TEXT}),
                          to_char(c.expires_at, {_UTC_TEXT})),
    'trusted', d.trusted,
    'verify_error', d.verify_error,
    'hostname_match', d.hostname_match,
    'self_signed', d.self_signed,
    'protocol', d.protocol,
    'cipher', d.cipher,
    'sans', d.sans,
    'key_type', d.key_type,
    'key_bits', d.key_bits,
    'signature_algorithm', d.signature_algorithm,
    'serial', d.serial,
    'sha256_fingerprint', d.sha256_fingerprint,
    'findings', d.findings,
    'first_seen_at', to_char(d.first_seen_at AT TIME ZONE 'UTC', {_UTC_TEXT}),
    'last_checked', coalesce(to_char(c.last_checked, {_UTC_TEXT}),
                             to_char(d.last_seen_at AT TIME ZONE 'UTC', {_UTC_TEXT}))
)::text
FROM ssl_certificates c
FULL JOIN certificate_details d ON d.domain_name = c.domain_name AND d.port = c.port
WHERE $1::jsonb IS NULL
   OR coalesce(d.domain_name, c.domain_name) IN (SELECT jsonb_array_elements_text($1::jsonb))
ORDER BY coalesce(d.domain_name, c.domain_name), coalesce(d.port, c.port)
LIMIT $2::integer
"""

# $1: JSON array of domain names.
_SELECT_TLS_CHANGES = f"""
SELECT domain_name, port, jsonb_agg(jsonb_build_object(
    'detected_at', to_char(detected_at AT TIME ZONE 'UTC', {_UTC_TEXT}),
    'sha256_fingerprint', sha256_fingerprint,
    'previous_sha256_fingerprint', previous_sha256_fingerprint,
    'subject_cn', subject_cn,
    'issuer_cn', issuer_cn,
    'not_after', to_char(not_after AT TIME ZONE 'UTC', {_UTC_TEXT})
) ORDER BY detected_at DESC)::text
FROM certificate_changes
WHERE domain_name IN (SELECT jsonb_array_elements_text($1::jsonb))
GROUP BY domain_name, port
"""

# $1: JSON array of domain names; $2: attempts per (domain, port).
_SELECT_TLS_ATTEMPTS = f"""
SELECT domain_name, port, jsonb_agg(jsonb_build_object(
    'attempted_at', to_char(attempted_at AT TIME ZONE 'UTC', {_UTC_TEXT}),
    'status', status, 'stage', stage, 'reason', reason, 'transient', transient,
    'address', address, 'elapsed_ms', elapsed_ms, 'daemon', daemon
) ORDER BY attempted_at DESC)::text
FROM (
    SELECT *, row_number() OVER (PARTITION BY domain_name, port
                                 ORDER BY attempted_at DESC) AS position
    FROM tls_scan_attempts
    WHERE domain_name IN (SELECT jsonb_array_elements_text($1::jsonb))
) AS recent
WHERE position <= $2::integer
GROUP BY domain_name, port
"""

# $1: JSON array of domain ids; $2: attempts per domain.
_SELECT_EMAIL_ATTEMPTS = f"""
SELECT domain_id, jsonb_agg(jsonb_build_object(
    'finished_at', to_char(finished_at, {_UTC_TEXT}),
    'outcome', outcome, 'complete', complete, 'error', error, 'instance', instance
) ORDER BY finished_at DESC)::text
FROM (
    SELECT *, row_number() OVER (PARTITION BY domain_id ORDER BY finished_at DESC) AS position
    FROM email_check_attempts
    WHERE domain_id IN (SELECT jsonb_array_elements_text($1::jsonb)::integer)
) AS recent
WHERE position <= $2::integer
GROUP BY domain_id
"""


def _check_limit(limit: int) -> None:
    if isinstance(limit, bool) or not isinstance(limit, int) or limit <= 0:
        raise InvalidArgumentError(f"invalid limit {limit!r}: expected a positive integer")


def _names_param(domains: Iterable[str] | None) -> str | None:
    if domains is None:
        return None
    return to_param([name.strip().lower().rstrip(".") for name in domains])


def _as_dataframe(records: list[dict[str, Any]]) -> Any:
    try:
        import pandas
    except ImportError:
        raise ModuleNotFoundError(
            "as_dataframe=True needs pandas: install it with pip install 'dnsscience[pandas]'"
        ) from None
    return pandas.DataFrame.from_records(records)


def tls_results(
    connection: Any,
    domains: Iterable[str] | None = None,
    limit: int = 1000,
    history: bool = False,
    as_dataframe: bool = False,
) -> Any:
    """Return the stored certificate of each (domain, port), ordered by name and port.

    ``domains`` restricts the records to those names; None returns all, up to
    ``limit``. With ``history`` each record gets ``changes`` (certificate changes,
    newest first) and ``attempts`` (the last 20 probes). Returns a list of dicts,
    or a DataFrame with ``as_dataframe``.
    """
    _check_limit(limit)
    _columns, rows, _count = connection.execute(
        _SELECT_TLS, [_names_param(domains), to_param(limit)]
    )
    records = [json.loads(row[0]) for row in rows]
    if history and records:
        names = to_param(sorted({record["domain_name"] for record in records}))
        changes = _by_domain_port(connection.execute(_SELECT_TLS_CHANGES, [names])[1])
        attempts = _by_domain_port(
            connection.execute(_SELECT_TLS_ATTEMPTS, [names, to_param(HISTORY_ATTEMPTS)])[1]
        )
        for record in records:
            key = (record["domain_name"], record["port"])
            record["changes"] = changes.get(key, [])
            record["attempts"] = attempts.get(key, [])
    return _as_dataframe(records) if as_dataframe else records


def _by_domain_port(rows: list[tuple[str, str, str]]) -> dict[tuple[str, int], list[Any]]:
    return {(name, int(port)): json.loads(items) for name, port, items in rows}


def email_results(
    connection: Any,
    domains: Iterable[str] | None = None,
    limit: int = 1000,
    history: bool = False,
    as_dataframe: bool = False,
) -> Any:
    """Return the stored email result of each domain, ordered by name.

    The records are those of :func:`dnsscience.store.results.email_results`. With
    ``history`` each also gets ``attempts``: the last 20 checks with their outcome,
    newest first. Returns a list of dicts, or a DataFrame with ``as_dataframe``.
    """
    _check_limit(limit)
    names = None if domains is None else [name.strip().lower().rstrip(".") for name in domains]
    records = results.email_results(connection, names, limit)
    if history and records:
        ids = to_param([record["domain_id"] for record in records])
        _columns, rows, _count = connection.execute(
            _SELECT_EMAIL_ATTEMPTS, [ids, to_param(HISTORY_ATTEMPTS)]
        )
        attempts = {int(domain_id): json.loads(items) for domain_id, items in rows}
        for record in records:
            record["attempts"] = attempts.get(record["domain_id"], [])
    return _as_dataframe(records) if as_dataframe else records
