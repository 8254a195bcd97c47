"""Read stored email results back as dicts, joined across the legacy and new tables."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from dnsscience.errors import InvalidArgumentError
from dnsscience.store import statements
from dnsscience.store.values import to_param

__all__ = ["email_results"]

_BOOLEAN = {"has_mx", "has_spf", "spf_valid", "has_dmarc", "has_dkim", "complete"}
_INTEGER = {"domain_id", "mx_count", "failure_count"}
_JSON = {"lookup_status", "findings", "result"}
_ARRAY = {"mx_records", "dkim_selectors"}


def _parse_text_array(text: str) -> list[str]:
    # NOTE: parses the array output of plain host names and DKIM selectors only;
    # quoted elements lose their escapes, which such values never contain.
    inner = text[1:-1]
    if not inner:
        return []
    return [item.strip('"') for item in inner.split(",")]


def _convert(column: str, value: str | None) -> Any:
    if value is None:
        return None
    if column in _BOOLEAN:
        return value == "t"
    if column in _INTEGER:
        return int(value)
    if column in _JSON:
        return json.loads(value)
    if column in _ARRAY:
        return _parse_text_array(value)
    return value


def email_results(
    connection: Any, domains: Iterable[str] | None = None, limit: int = 1000
) -> list[dict[str, Any]]:
    """Return stored email results, ordered by domain name.

    ``domains`` restricts the rows to those names (as stored: lower case, no
    trailing dot); None returns every checked domain up to ``limit``. Each dict
    has the legacy columns of ``email_security_records`` plus ``complete``,
    ``error``, ``lookup_status``, ``findings``, ``failure_count``,
    ``checked_at``, ``next_attempt_at`` and the whole ``result``. Timestamps
    are ISO 8601 UTC text.
    """
    if isinstance(limit, bool) or not isinstance(limit, int) or limit <= 0:
        raise InvalidArgumentError(f"invalid limit {limit!r}: expected a positive integer")
    names = None if domains is None else to_param(list(domains))
    columns, rows, _ = connection.execute(
        statements.SELECT_EMAIL_RESULTS.sql, [names, to_param(limit)]
    )
    return [
        {column: _convert(column, value) for column, value in zip(columns, row)}
        for row in rows
    ]
