"""Drive a ``_core.BatchSession`` from Python: submit, poll, progress, Ctrl-C.

The session runs its work on a C++ event-loop thread. ``poll`` releases the GIL and
returns at least every ``POLL_SECONDS``, so a KeyboardInterrupt raised by Python's
signal handler stops the iteration within a second; the session is closed on the
way out.
"""

from __future__ import annotations

import operator
import os
from collections.abc import Callable, Iterable, Iterator
from typing import Any

__all__ = ["ProgressCallback", "check_count", "iterate_session", "resolve_nameservers"]

#: Maximum time one poll of the session blocks, in seconds.
POLL_SECONDS = 0.2
#: Maximum number of results taken from the session per poll.
POLL_MAX_RESULTS = 512

#: Called as ``progress(done, total)`` after each result.
ProgressCallback = Callable[[int, int], None]


def check_count(name: str, value: Any) -> int:
    """Return ``value`` as an int when it is a whole number of at least 1.

    Integer types such as numpy's pass; floats, bools and smaller numbers raise
    ValueError naming the argument and the value.
    """
    try:
        number = operator.index(value)
    except TypeError:
        number = None
    if number is None or isinstance(value, bool) or number < 1:
        raise ValueError(f"{name} must be a whole number of at least 1, not {value!r}")
    return number


def resolve_nameservers(nameservers: Iterable[str] | str | None) -> list[str]:
    """Return the nameservers to query, as ``ip:port`` strings.

    ``None`` means ``DNSSCIENCE_NAMESERVERS`` (comma-separated) when it is set, else
    an empty list, which makes the core use the system resolver's nameservers.
    """
    if nameservers is None:
        configured = os.environ.get("DNSSCIENCE_NAMESERVERS", "")
        return [item.strip() for item in configured.split(",") if item.strip()]
    if isinstance(nameservers, str):
        return [item.strip() for item in nameservers.split(",") if item.strip()]
    return [str(item) for item in nameservers]


def iterate_session(
    session: Any,
    items: list[str],
    parse: Callable[[str], Any],
    progress: ProgressCallback | None = None,
) -> Iterator[Any]:
    """Submit ``items`` to ``session`` and yield ``parse(result_json)`` as each completes.

    Closes the session when the iteration ends, is abandoned or is interrupted.
    """
    total = len(items)
    done = 0
    try:
        if total:
            session.submit(items)
        if progress is not None:
            progress(0, total)
        while done < total:
            for text in session.poll(POLL_MAX_RESULTS, POLL_SECONDS):
                done += 1
                if progress is not None:
                    progress(done, total)
                yield parse(text)
    finally:
        session.close()
