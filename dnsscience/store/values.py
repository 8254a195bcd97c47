"""Conversion of Python values to the text parameters that Connection sends.

Every parameter travels as text (or NULL) and the SQL casts it, so the
conversion must produce what PostgreSQL's input functions accept whatever the
session settings are.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from datetime import date, datetime, timezone
from typing import Any

from dnsscience.errors import InvalidArgumentError

__all__ = ["to_param", "to_params"]


def to_param(value: Any) -> str | None:
    """Return ``value`` as the text of one SQL parameter (None stays NULL).

    A bool becomes 'true' or 'false', and an int or finite float its decimal text.
    A datetime becomes ISO 8601 in UTC with a Z suffix (a naive one is taken as
    UTC), and a date becomes YYYY-MM-DD. Lists, tuples and dicts become JSON text,
    which the SQL casts with ``::jsonb``. Raises InvalidArgumentError for other
    types, for NaN or infinite numbers and for text containing NUL.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidArgumentError(f"invalid SQL parameter {value!r}: expected a finite number")
        return repr(value)
    if isinstance(value, str):
        if "\x00" in value:
            raise InvalidArgumentError(
                f"invalid SQL parameter {value[:40]!r}: PostgreSQL text cannot contain NUL; "
                "remove the NUL characters"
            )
        return value
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(timezone.utc).replace(tzinfo=None)
        return value.isoformat(sep="T") + "Z"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (Mapping, list, tuple)):
        return json.dumps(value, separators=(",", ":"), default=_json_default, allow_nan=False)
    raise InvalidArgumentError(
        f"invalid SQL parameter of type {type(value).__name__}: expected None, bool, int, "
        "float, str, datetime, date, list, tuple or dict"
    )


def to_params(values: Iterable[Any]) -> list[str | None]:
    """Return :func:`to_param` of each value, in order."""
    return [to_param(value) for value in values]


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return to_param(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")
