"""Schema migrations of dnsscience: the ordered ``NNN_name.sql`` files in this folder.

Applied migrations are recorded in ``dnsscience_migrations`` (version, name,
sha256 checksum, applied_at in UTC, execution_ms, applied_by), never in the
original platform's ``schema_migrations``.

Each migration runs in one transaction that first takes
``pg_advisory_xact_lock(ADVISORY_LOCK_KEY)``, so two hosts migrating at once
run each migration once: the second waits, then finds its insert into
``dnsscience_migrations`` rejected and skips that migration. A file whose first
lines contain ``-- dnsscience: no-transaction`` (needed for CREATE INDEX
CONCURRENTLY) runs statement by statement in autocommit mode under the
session-level ``pg_advisory_lock`` instead.

An applied migration whose file changed since is an error: ``migrate`` raises
SchemaError naming it, and ``status`` reports it as ``changed``.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from typing import Any

from dnsscience.errors import DatabaseError, SchemaError

logger = logging.getLogger(__name__)

__all__ = [
    "ADVISORY_LOCK_KEY",
    "Migration",
    "MigrationStatus",
    "load_migrations",
    "migrate",
    "split_statements",
    "status",
]

#: Key of the advisory lock that serializes migrations: "dnss" as a 32-bit integer.
ADVISORY_LOCK_KEY = 0x646E7373
NO_TRANSACTION_MARK = "-- dnsscience: no-transaction"
_FILE_NAME = re.compile(r"^(\d{3})_([a-z0-9_]+)\.sql$")
# Statements that run before each migration inside its transaction. The lock
# timeout keeps a migration from queueing forever behind a long query on a busy
# table while holding up every statement queued behind it.
_LOCK_TIMEOUT = "30s"

CREATE_MIGRATIONS_TABLE = """
CREATE TABLE IF NOT EXISTS dnsscience_migrations (
    version TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    checksum TEXT NOT NULL,
    applied_at TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'UTC'),
    execution_ms INTEGER,
    applied_by TEXT NOT NULL DEFAULT current_user
)
"""
TAKE_XACT_LOCK = "SELECT pg_advisory_xact_lock($1::bigint)"
TAKE_SESSION_LOCK = "SELECT pg_advisory_lock($1::bigint)"
RELEASE_SESSION_LOCK = "SELECT pg_advisory_unlock($1::bigint)"
SET_LOCK_TIMEOUT = f"SET LOCAL lock_timeout = '{_LOCK_TIMEOUT}'"
MIGRATIONS_TABLE_EXISTS = "SELECT to_regclass('dnsscience_migrations') IS NOT NULL"
SELECT_APPLIED = """
SELECT version, name, checksum, to_char(applied_at, 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
FROM dnsscience_migrations
ORDER BY version
"""
RECORD_MIGRATION = """
INSERT INTO dnsscience_migrations (version, name, checksum, applied_at, applied_by)
VALUES ($1, $2, $3, clock_timestamp() AT TIME ZONE 'UTC', current_user)
"""
RECORD_DURATION = """
UPDATE dnsscience_migrations
SET execution_ms = round(extract(epoch FROM (clock_timestamp() AT TIME ZONE 'UTC') - applied_at)
                         * 1000)::integer
WHERE version = $1
"""


@dataclass(frozen=True)
class Migration:
    """One migration file: its version (``001``), name, SQL text and checksum."""

    version: str
    name: str
    sql: str
    checksum: str

    @property
    def transactional(self) -> bool:
        """False when the file is marked ``-- dnsscience: no-transaction``."""
        return NO_TRANSACTION_MARK not in self.sql.split("\n\n", 1)[0]


@dataclass(frozen=True)
class MigrationStatus:
    """A migration and its state: ``applied``, ``pending`` or ``changed``."""

    version: str
    name: str
    state: str
    applied_at: datetime | None


def load_migrations() -> list[Migration]:
    """Return the migration files shipped in this package, ordered by version.

    Raises SchemaError for a file name that does not match ``NNN_name.sql`` or
    for two files with one version.
    """
    migrations: dict[str, Migration] = {}
    for entry in resources.files(__name__).iterdir():
        if not entry.name.endswith(".sql"):
            continue
        match = _FILE_NAME.match(entry.name)
        if match is None:
            raise SchemaError(
                f"invalid migration file name {entry.name!r}: expected NNN_name.sql with "
                "three digits and lowercase letters, digits or underscores"
            )
        version, name = match.groups()
        if version in migrations:
            raise SchemaError(
                f"two migration files have version {version}: rename one of them"
            )
        sql = entry.read_text(encoding="utf-8")
        checksum = hashlib.sha256(sql.encode("utf-8")).hexdigest()
        migrations[version] = Migration(version, name, sql, checksum)
    return [migrations[version] for version in sorted(migrations)]


def status(connection: Any, migrations: list[Migration] | None = None) -> list[MigrationStatus]:
    """Return the state of every migration file and of every recorded version.

    A version recorded in the database whose file no longer exists is reported
    as ``changed`` too.
    """
    migrations = load_migrations() if migrations is None else migrations
    applied = _applied(connection)
    states = []
    for migration in migrations:
        record = applied.pop(migration.version, None)
        if record is None:
            states.append(MigrationStatus(migration.version, migration.name, "pending", None))
            continue
        _, checksum, applied_at = record
        state = "applied" if checksum == migration.checksum else "changed"
        states.append(MigrationStatus(migration.version, migration.name, state, applied_at))
    for version, (name, _, applied_at) in sorted(applied.items()):
        states.append(MigrationStatus(version, name, "changed", applied_at))
    return states


def migrate(connection: Any, migrations: list[Migration] | None = None) -> list[Migration]:
    """Apply every pending migration in order; return those this call applied.

    Raises SchemaError naming the migration when an applied file changed, and
    DatabaseError (with the migration's name) when a migration fails; a failed
    transactional migration leaves nothing behind.
    """
    migrations = load_migrations() if migrations is None else migrations
    connection.transaction([
        (TAKE_XACT_LOCK, [str(ADVISORY_LOCK_KEY)]),
        (CREATE_MIGRATIONS_TABLE, []),
    ])
    _raise_if_changed(status(connection, migrations))

    applied_now = []
    for migration in migrations:
        if migration.version in _applied(connection):
            continue
        started = time.monotonic()
        if migration.transactional:
            done = _apply_in_transaction(connection, migration)
        else:
            done = _apply_without_transaction(connection, migration)
        if done:
            applied_now.append(migration)
            logger.info(
                "Applied migration %s_%s in %.0f ms",
                migration.version,
                migration.name,
                (time.monotonic() - started) * 1000,
            )
    return applied_now


def _applied(connection: Any) -> dict[str, tuple[str, str, datetime | None]]:
    _, rows, _ = connection.execute(MIGRATIONS_TABLE_EXISTS)
    if rows[0][0] != "t":
        return {}
    _, rows, _ = connection.execute(SELECT_APPLIED)
    return {
        version: (name, checksum, _parse_utc(applied_at))
        for version, name, checksum, applied_at in rows
    }


def _parse_utc(text: str | None) -> datetime | None:
    if text is None:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _raise_if_changed(states: list[MigrationStatus]) -> None:
    changed = [state for state in states if state.state == "changed"]
    if changed:
        names = ", ".join(f"{state.version}_{state.name}" for state in changed)
        raise SchemaError(
            f"applied migrations differ from the files of this version: {names}. "
            "An applied migration must never be edited: restore the file, or add a new "
            "migration with the change"
        )


def _apply_in_transaction(connection: Any, migration: Migration) -> bool:
    record_params = [migration.version, migration.name, migration.checksum]
    try:
        connection.transaction([
            (TAKE_XACT_LOCK, [str(ADVISORY_LOCK_KEY)]),
            (SET_LOCK_TIMEOUT, []),
            (RECORD_MIGRATION, record_params),
            (migration.sql, []),
            (RECORD_DURATION, [migration.version]),
        ])
    except DatabaseError as error:
        if _applied_elsewhere(connection, migration):
            return False
        raise type(error)(
            f"migration {migration.version}_{migration.name} failed and was rolled back: {error}"
        ) from error
    return True


def _applied_elsewhere(connection: Any, migration: Migration) -> bool:
    """Return True when another process recorded ``migration`` meanwhile."""
    record = _applied(connection).get(migration.version)
    if record is None:
        return False
    if record[1] != migration.checksum:
        _raise_if_changed(status(connection, [migration]))
    logger.info(
        "Migration %s_%s was applied by another process meanwhile",
        migration.version,
        migration.name,
    )
    return True


def _apply_without_transaction(connection: Any, migration: Migration) -> bool:
    # NOTE: the session-level advisory lock needs a direct connection. Behind
    # PgBouncer in transaction mode the lock and the statements may land on
    # different server connections, so run migrations against PostgreSQL itself.
    key = [str(ADVISORY_LOCK_KEY)]
    connection.execute(TAKE_SESSION_LOCK, key)
    try:
        if migration.version in _applied(connection):
            return False
        for statement in split_statements(migration.sql):
            try:
                connection.execute(statement)
            except DatabaseError as error:
                raise type(error)(
                    f"migration {migration.version}_{migration.name} failed; the statements "
                    f"before the failing one stay applied, and each should be written so it "
                    f"can run again: {error}"
                ) from error
        connection.execute(RECORD_MIGRATION, [migration.version, migration.name,
                                              migration.checksum])
        return True
    finally:
        connection.execute(RELEASE_SESSION_LOCK, key)


def split_statements(sql: str) -> list[str]:
    """Split SQL text into statements at top-level semicolons.

    Semicolons inside quoted strings, quoted identifiers, dollar-quoted bodies
    and comments do not split. Empty statements are dropped.
    """
    statements = []
    current: list[str] = []
    index = 0
    length = len(sql)
    while index < length:
        char = sql[index]
        end = index + 1
        if sql.startswith("--", index):
            newline = sql.find("\n", index)
            end = length if newline < 0 else newline + 1
        elif sql.startswith("/*", index):
            close = sql.find("*/", index + 2)
            end = length if close < 0 else close + 2
        elif char in ("'", '"'):
            end = index + 1
            while end < length:
                if sql[end] == char:
                    if end + 1 < length and sql[end + 1] == char:
                        end += 2
                        continue
                    end += 1
                    break
                end += 1
        elif char == "$":
            tag = re.match(r"\$([A-Za-z_][A-Za-z0-9_]*)?\$", sql[index:])
            if tag:
                close = sql.find(tag.group(0), index + len(tag.group(0)))
                end = length if close < 0 else close + len(tag.group(0))
        elif char == ";":
            statement = "".join(current).strip()
            if statement:
                statements.append(statement)
            current = []
            index += 1
            continue
        current.append(sql[index:end])
        index = end
    statement = "".join(current).strip()
    if statement and not _only_comments(statement):
        statements.append(statement)
    return statements


def _only_comments(text: str) -> bool:
    lines = [line.strip() for line in text.splitlines()]
    return all(not line or line.startswith("--") for line in lines)
