"""Check a database against the schema the statements of one program need.

:func:`check` compares the requirements declared with each statement (see
:mod:`dnsscience.store.statements`) with ``information_schema.columns`` and
``pg_index`` and returns one :class:`Gap` per missing table, missing column,
column of the wrong type, missing unique key or missing index. A daemon stops
at startup on a required gap and logs the optional ones (such as the DANE and
MTA-STS columns of the platform's migrations 015 and 016).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from dnsscience.errors import InvalidArgumentError
from dnsscience.store import statements
from dnsscience.store.statements import (
    ColumnRequirement,
    IndexRequirement,
    SqlStatement,
    TableRequirement,
)

__all__ = ["Gap", "check", "known_scopes", "register_statements"]

MIGRATE_FIX = "run 'dnsscience db migrate'"

_SSL_CERTIFICATES = TableRequirement(
    "ssl_certificates",
    tuple(
        ColumnRequirement(name, statements.TEXT)
        for name in ("domain_name", "subject_cn", "issuer_cn")
    )
    + (ColumnRequirement("port", statements.INT),)
    + tuple(
        ColumnRequirement(name, statements.TIMESTAMP)
        for name in ("valid_from", "valid_to", "created_at", "expires_at", "last_checked")
    ),
    (IndexRequirement(("domain_name", "port"), unique=True,
                      purpose="ON CONFLICT (domain_name, port) of the certificate upsert"),),
)
_TLS_TABLES = SqlStatement(
    "ssl_certificates_upsert_target",
    "",
    ("ssl_scanner", "ssl_monitord"),
    (_SSL_CERTIFICATES,),
)

_REGISTRY: list[SqlStatement] = [*statements.EMAIL_STATEMENTS, _TLS_TABLES]

COLUMNS = """
SELECT table_name, column_name, udt_name
FROM information_schema.columns
WHERE table_schema = current_schema()
"""
INDEXES = """
SELECT c.relname,
       i.indisunique,
       i.indpred IS NOT NULL,
       array_to_string(ARRAY(
           SELECT a.attname
           FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, position)
           JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
           ORDER BY k.position), ',')
FROM pg_index i
JOIN pg_class c ON c.oid = i.indrelid
WHERE c.relnamespace = current_schema()::regnamespace
"""


@dataclass(frozen=True)
class Gap:
    """A difference between the database and what a statement needs."""

    object: str
    problem: str
    fix: str
    required: bool

    def describe(self) -> str:
        """Return one line: the object, the problem and the fix."""
        kind = "required" if self.required else "optional"
        return f"{self.object}: {self.problem} ({kind}); fix: {self.fix}"


def register_statements(extra: Iterable[SqlStatement]) -> None:
    """Add statements of another store to the requirements that :func:`check` compares."""
    _REGISTRY.extend(extra)


def known_scopes() -> list[str]:
    """Return the scope names that :func:`check` accepts."""
    return sorted({scope for statement in _REGISTRY for scope in statement.scopes})


def _tables_for(scope: str) -> list[TableRequirement]:
    tables = [table for statement in _REGISTRY if scope in statement.scopes
              for table in statement.tables]
    if not tables and scope not in known_scopes():
        raise InvalidArgumentError(
            f"invalid schema scope {scope!r}: expected one of {', '.join(known_scopes())}"
        )
    return tables


def _merge(tables: list[TableRequirement]) -> dict[str, tuple[dict[str, ColumnRequirement],
                                                                set[IndexRequirement], bool]]:
    merged: dict[str, tuple[dict[str, ColumnRequirement], set[IndexRequirement], bool]] = {}
    for table in tables:
        columns, indexes, required = merged.get(table.table, ({}, set(), False))
        for column in table.columns:
            known = columns.get(column.name)
            if known is None or (column.required and not known.required):
                columns[column.name] = column
        indexes.update(table.indexes)
        merged[table.table] = (columns, indexes, required or table.required)
    return merged


def _index_matches(wanted: IndexRequirement, unique: bool, partial: bool, keys: list[str]):
    if wanted.unique:
        # ON CONFLICT needs a non-partial unique index on exactly these columns.
        return unique and not partial and sorted(keys) == sorted(wanted.columns)
    return keys[: len(wanted.columns)] == list(wanted.columns)


def check(connection: Any, scope: str = "emaild") -> list[Gap]:
    """Return every gap between the database and what the ``scope`` program needs.

    ``scope`` names a program: ``emaild``, ``results``, ``ssl_scanner`` or
    ``ssl_monitord`` (see :func:`known_scopes`). An empty list means the
    database has everything.
    """
    wanted = _merge(_tables_for(scope))
    _, column_rows, _ = connection.execute(COLUMNS)
    _, index_rows, _ = connection.execute(INDEXES)
    present: dict[str, dict[str, str]] = {}
    for table, column, udt in column_rows:
        present.setdefault(table, {})[column] = udt
    indexes: dict[str, list[tuple[bool, bool, list[str]]]] = {}
    for table, unique, partial, keys in index_rows:
        indexes.setdefault(table, []).append((unique == "t", partial == "t", keys.split(",")))

    gaps: list[Gap] = []
    for table, (columns, table_indexes, table_required) in sorted(wanted.items()):
        if table not in present:
            gaps.append(Gap(table, "table is missing", MIGRATE_FIX, table_required))
            continue
        for column in columns.values():
            name = f"{table}.{column.name}"
            actual = present[table].get(column.name)
            if actual is None:
                gaps.append(Gap(name, "column is missing", MIGRATE_FIX, column.required))
            elif actual not in column.types:
                gaps.append(Gap(
                    name,
                    f"column has type {actual}, expected {' or '.join(column.types)}",
                    f"ALTER TABLE {table} ALTER COLUMN {column.name} TYPE {column.types[0]} "
                    "(check the data first)",
                    column.required,
                ))
        for index in sorted(table_indexes, key=lambda item: item.columns):
            if any(_index_matches(index, *found) for found in indexes.get(table, [])):
                continue
            columns_text = ", ".join(index.columns)
            if index.unique:
                problem = f"no unique index on exactly ({columns_text}): {index.purpose}"
                fix = (f"{MIGRATE_FIX}, or CREATE UNIQUE INDEX ON {table} ({columns_text}) "
                       "after removing duplicate rows")
            else:
                problem = f"no index on ({columns_text}): {index.purpose}"
                fix = f"{MIGRATE_FIX}, or CREATE INDEX CONCURRENTLY ON {table} ({columns_text})"
            gaps.append(Gap(f"{table}({columns_text})", problem, fix, index.required))
    return gaps
