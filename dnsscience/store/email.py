"""The email store: claim due domains and write email check results.

The daemon never holds a transaction open during DNS work: :func:`claim_due`
leases a batch in one short transaction, the checks run, and
:func:`store_results` writes a whole batch in one short transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any

from dnsscience.errors import InvalidArgumentError
from dnsscience.store import statements
from dnsscience.store.values import to_param

logger = logging.getLogger(__name__)

__all__ = ["claim_due", "prune_attempts", "release_claims", "store_results"]

#: Days before a result with an error (an invalid domain name) is checked again.
INVALID_RETRY_DAYS = 7


def _positive(name: str, value: int | float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise InvalidArgumentError(f"invalid {name} {value!r}: expected a positive number")


def claim_due(
    connection: Any,
    limit: int,
    rescan_days: int,
    instance: str,
    lease_seconds: int | float,
) -> list[tuple[int, str]]:
    """Lease up to ``limit`` due domains to ``instance``; return (domain_id, domain_name).

    Due are active domains never checked completely, checked over ``rescan_days``
    ago, or whose retry time (after a transient failure) has passed, unless
    any instance, ``instance`` included, holds an unexpired lease on them. So an
    instance can claim its next batch while the last one is still in flight.
    Never-checked domains come first, then the oldest. Rows locked by a concurrent
    claim are skipped (FOR UPDATE SKIP LOCKED). The lease lasts ``lease_seconds``.
    """
    _positive("limit", limit)
    _positive("rescan_days", rescan_days)
    _positive("lease_seconds", lease_seconds)
    if not instance:
        raise InvalidArgumentError("invalid instance '': expected a name such as host:pid")
    (result,) = connection.transaction([(
        statements.CLAIM_DUE.sql,
        [to_param(int(limit)), to_param(int(rescan_days)), instance,
         to_param(float(lease_seconds))],
    )])
    _, rows, _ = result
    return [(int(domain_id), name) for domain_id, name in rows]


def release_claims(connection: Any, domain_ids: Iterable[int], instance: str) -> int:
    """Clear the leases ``instance`` holds on ``domain_ids``; return how many were cleared.

    The domains stay due, so the next claim by any instance picks them up.
    """
    ids = [int(domain_id) for domain_id in domain_ids]
    if not ids:
        return 0
    _, _, count = connection.execute(statements.RELEASE_CLAIMS.sql, [to_param(ids), instance])
    return count


def _optional_columns(connection: Any) -> set[str]:
    _, rows, _ = connection.execute(statements.SELECT_OPTIONAL_EMAIL_COLUMNS.sql)
    return {row[0] for row in rows}


def _validate(results: Sequence[dict[str, Any]]) -> None:
    for index, result in enumerate(results):
        if not isinstance(result, dict):
            raise InvalidArgumentError(
                f"invalid result at index {index}: expected a dict, got {type(result).__name__}"
            )
        if result.get("domain_id") is None and not result.get("domain"):
            raise InvalidArgumentError(
                f"invalid result at index {index}: it has neither 'domain_id' nor 'domain'"
            )


def store_results(
    connection: Any,
    results: Sequence[dict[str, Any]],
    instance: str,
    attempt_retention_days: int | None = 30,
) -> int:
    """Write a batch of email check results in one transaction; return the domains stored.

    ``results`` are the JSON objects of the email checker, each with an added
    ``domain_id`` (else the domain is looked up by ``domain``; unknown names
    are skipped with a warning). Several results for one domain collapse to the
    last one. The transaction updates ``email_security_records`` with the
    original daemons' meaning, upserts ``email_security_details``, logs one
    ``email_check_attempts`` row per domain and clears the leases of
    ``instance``. The columns fed by a lookup that failed transiently keep
    their previous values, ``last_checked`` moves only for a complete result,
    and an incomplete one schedules a retry (1 h, doubling per consecutive
    failure, at most 1 day). Attempts older than ``attempt_retention_days`` are
    deleted in the same transaction unless it is None.
    """
    _validate(results)
    if not results:
        return 0
    batch = to_param(list(results))
    optional = _optional_columns(connection)
    if "has_mta_sts" in optional:
        update, insert = (statements.UPDATE_EMAIL_RECORDS_WITH_MTA_STS,
                          statements.INSERT_EMAIL_RECORDS_WITH_MTA_STS)
    else:
        update, insert = statements.UPDATE_EMAIL_RECORDS, statements.INSERT_EMAIL_RECORDS

    work = [
        (update.sql, [batch]),
        (insert.sql, [batch]),
        (statements.INSERT_EMAIL_ATTEMPTS.sql, [batch, instance]),
        (statements.UPSERT_EMAIL_DETAILS.sql, [batch, instance, to_param(INVALID_RETRY_DAYS)]),
    ]
    if attempt_retention_days is not None:
        _positive("attempt_retention_days", attempt_retention_days)
        work.append((statements.PRUNE_EMAIL_ATTEMPTS.sql,
                     [to_param(int(attempt_retention_days))]))
    outcome = connection.transaction(work)
    stored = outcome[3][2]

    expected = len({result.get("domain_id") or result.get("domain") for result in results})
    if stored < expected:
        logger.warning(
            "Stored %d of %d domains: the others are not in the domains table", stored, expected
        )
    return stored


def prune_attempts(connection: Any, retention_days: int) -> int:
    """Delete email check attempts older than ``retention_days``; return how many."""
    _positive("retention_days", retention_days)
    _, _, count = connection.execute(
        statements.PRUNE_EMAIL_ATTEMPTS.sql, [to_param(int(retention_days))]
    )
    return count
