"""The domain list: add, import, deactivate and schedule domains for a recheck.

Names are normalized with ``_core.normalize_domain`` (lower case, no trailing
dot, IDNA A-labels) before they reach the ``domains`` table, whose
``domain_name`` column is unique. Adding a name that exists but is inactive
reactivates it. Nothing is deleted: deactivated domains keep their results.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dnsscience import _core
from dnsscience.errors import InvalidArgumentError

__all__ = [
    "AddSummary",
    "NameProblem",
    "add_domains",
    "deactivate_domains",
    "normalize_names",
    "read_domain_file",
    "recheck_domains",
]

logger = logging.getLogger(__name__)

#: Names sent to the database per statement.
WRITE_BATCH = 5000

#: Header names accepted for the domain column of a CSV file.
CSV_DOMAIN_COLUMNS = ("domain", "domain_name")

# created_at is a legacy timestamp column; its default CURRENT_TIMESTAMP would be
# in the session's time zone, so it is set to UTC explicitly.
_ADD_DOMAINS = """
INSERT INTO domains AS d (domain_name, is_active, created_at)
SELECT name, TRUE, now() AT TIME ZONE 'UTC'
FROM unnest($1::text[]) AS name
ON CONFLICT (domain_name) DO UPDATE SET is_active = TRUE
    WHERE d.is_active IS NOT TRUE
RETURNING d.domain_name, (xmax = 0) AS inserted
"""

_DEACTIVATE_DOMAINS = """
UPDATE domains SET is_active = FALSE
WHERE domain_name = ANY($1::text[])
RETURNING domain_name
"""

# emaild and ssl-scanner claim a domain as soon as its next attempt time has
# passed, even within the rescan period. That time is
# email_security_details.next_attempt_at (a UTC timestamp) for emaild and
# domains.tls_next_attempt_at (timestamptz) for ssl-scanner.
_RECHECK_EMAIL = """
INSERT INTO email_security_details AS s (domain_id, next_attempt_at)
SELECT id, now() AT TIME ZONE 'UTC'
FROM domains
WHERE domain_name = ANY($1::text[]) AND is_active IS TRUE
ON CONFLICT (domain_id) DO UPDATE SET next_attempt_at = EXCLUDED.next_attempt_at
"""

_RECHECK_TLS = """
UPDATE domains SET tls_next_attempt_at = now()
WHERE domain_name = ANY($1::text[]) AND is_active IS TRUE
RETURNING domain_name
"""


@dataclass(frozen=True)
class NameProblem:
    """An input name that was rejected, where it came from and why."""

    name: str
    reason: str
    #: Line number in the input file, or None for names from the command line.
    line: int | None = None

    def describe(self) -> str:
        """Return ``line N: 'name': reason`` (without the line part when unknown)."""
        where = f"line {self.line}: " if self.line is not None else ""
        return f"{where}{self.name!r}: {self.reason}"


@dataclass
class AddSummary:
    """The outcome of :func:`add_domains`, names in normalized form."""

    added: list[str] = field(default_factory=list)
    reactivated: list[str] = field(default_factory=list)
    already_present: list[str] = field(default_factory=list)
    invalid: list[NameProblem] = field(default_factory=list)
    #: Names given more than once (after normalization); counted once.
    duplicates: int = 0


def _text_array(values: Iterable[str]) -> str:
    """Return a PostgreSQL array literal of ``values`` for a ``$n::text[]`` parameter."""
    quoted = []
    for value in values:
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        quoted.append(f'"{escaped}"')
    return "{" + ",".join(quoted) + "}"


def normalize_names(
    names: Iterable[str | tuple[int | None, str]],
) -> tuple[list[str], list[NameProblem], int]:
    """Normalize names; return (unique valid names in input order, problems, duplicates).

    Each item is a name or a ``(line number, name)`` pair.
    """
    valid: list[str] = []
    seen: set[str] = set()
    problems: list[NameProblem] = []
    duplicates = 0
    for item in names:
        line, name = item if isinstance(item, tuple) else (None, item)
        try:
            normalized = _core.normalize_domain(name)
        except InvalidArgumentError as error:
            problems.append(NameProblem(name, str(error), line))
            continue
        if normalized in seen:
            duplicates += 1
            continue
        seen.add(normalized)
        valid.append(normalized)
    return valid, problems, duplicates


def add_domains(connection: Any, names: Iterable[str | tuple[int | None, str]]) -> AddSummary:
    """Insert new names as active domains and reactivate inactive ones.

    Names are normalized first; invalid ones are reported, not written. Each group
    of 5000 names is one statement, so an interrupted import keeps what it wrote.
    """
    valid, problems, duplicates = normalize_names(names)
    summary = AddSummary(invalid=problems, duplicates=duplicates)
    for start in range(0, len(valid), WRITE_BATCH):
        batch = valid[start : start + WRITE_BATCH]
        _columns, rows, _count = connection.execute(_ADD_DOMAINS, [_text_array(batch)])
        changed = set()
        for name, inserted in rows:
            changed.add(name)
            if inserted == "t":
                summary.added.append(name)
            else:
                summary.reactivated.append(name)
        summary.already_present.extend(name for name in batch if name not in changed)
    logger.info(
        "domains: %d added, %d reactivated, %d already present, %d invalid",
        len(summary.added),
        len(summary.reactivated),
        len(summary.already_present),
        len(summary.invalid),
    )
    return summary


def deactivate_domains(
    connection: Any, names: Iterable[str]
) -> tuple[list[str], list[str], list[NameProblem]]:
    """Mark domains inactive; return (deactivated, not found, invalid names)."""
    valid, problems, _duplicates = normalize_names(names)
    if not valid:
        return [], [], problems
    _columns, rows, _count = connection.execute(_DEACTIVATE_DOMAINS, [_text_array(valid)])
    found = {row[0] for row in rows}
    deactivated = [name for name in valid if name in found]
    missing = [name for name in valid if name not in found]
    return deactivated, missing, problems


def recheck_domains(
    connection: Any, names: Iterable[str]
) -> tuple[list[str], list[str], list[NameProblem]]:
    """Make active domains due now for emaild and ssl-scanner, in one transaction.

    Returns (scheduled, not found or inactive, invalid names). A domain that an
    instance holds under a lease is checked again once the lease ends.
    """
    valid, problems, _duplicates = normalize_names(names)
    if not valid:
        return [], [], problems
    array = _text_array(valid)
    results = connection.transaction([(_RECHECK_TLS, [array]), (_RECHECK_EMAIL, [array])])
    found = {row[0] for row in results[0][1]}
    scheduled = [name for name in valid if name in found]
    missing = [name for name in valid if name not in found]
    return scheduled, missing, problems


def _csv_domain_column(header: list[str]) -> int | None:
    lowered = [cell.strip().lower() for cell in header]
    for wanted in CSV_DOMAIN_COLUMNS:
        if wanted in lowered:
            return lowered.index(wanted)
    return None


def _iterate_csv(text: str, first_line: str, offset: int) -> Iterator[tuple[int, str]]:
    # offset: lines before the header (blank ones), added to the reader's line numbers.
    reader = csv.reader(io.StringIO(text))
    header = next(reader)
    column = _csv_domain_column(header)
    rank_and_name = False
    if column is None:
        # A header-less "rank,domain" file, as the Tranco list is published.
        cells = [cell.strip() for cell in header]
        if len(cells) == 2 and cells[0].isdigit():
            rank_and_name = True
            column = 1
        else:
            raise InvalidArgumentError(
                f"the CSV header {first_line!r} has no 'domain' or 'domain_name' column: "
                "add one, or give one name per line without commas"
            )
    if rank_and_name:
        yield offset + reader.line_num, header[column].strip()
    for row in reader:
        if not row or not "".join(row).strip():
            continue
        if column >= len(row):
            yield offset + reader.line_num, ""
            continue
        yield offset + reader.line_num, row[column].strip()


def read_domain_file(path: Path | str) -> list[tuple[int, str]]:
    """Return ``(line number, name)`` for every name in a domain list file.

    The file is either one name per line (blank lines and ``#`` comments are
    skipped), a CSV file whose header has a ``domain`` or ``domain_name`` column
    (possibly its only column),
    or a header-less ``rank,domain`` CSV such as the Tranco list. Raises
    InvalidArgumentError for an unreadable file or a CSV file without a domain
    column.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise InvalidArgumentError(f"cannot read the domain list {str(path)!r}: {error}") from None

    first_line = next((line for line in text.splitlines() if line.strip()), "")
    is_header = first_line.strip().lower() in CSV_DOMAIN_COLUMNS
    if is_header or ("," in first_line and not first_line.lstrip().startswith("#")):
        start = text.index(first_line)
        return list(_iterate_csv(text[start:], first_line, text.count("\n", 0, start)))

    names = []
    for number, line in enumerate(text.splitlines(), start=1):
        name = line.strip()
        if name and not name.startswith("#"):
            names.append((number, name))
    return names
