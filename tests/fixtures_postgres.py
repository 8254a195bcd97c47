"""pytest fixtures that provide PostgreSQL databases on a private loopback cluster.

One cluster runs per test session (``pg_cluster``). Every database fixture
creates a fresh database for one test and drops it afterwards, and yields its
libpq URL:

- ``empty_database``: nothing in it.
- ``legacy_database``: the production-shaped schema of the original daemons,
  loaded from ``tests/data/legacy_schema.sql``, with some rows.
- ``migrated_database``: an empty database after ``dnsscience db migrate``.
- ``migrated_legacy_database``: the legacy database after ``dnsscience db migrate``.

The prepared databases are copied from templates built once per session, so each
test pays only for a ``CREATE DATABASE``. ``pg_connect`` opens
``dnsscience._core.Connection`` objects and closes them after the test.

The cluster's default session time zone is Pacific/Chatham (UTC+12:45 or
+13:45), so a statement that depends on the session zone instead of UTC gives
visibly wrong times.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from dnsscience.testbed.postgres import PostgresCluster

LEGACY_SCHEMA = Path(__file__).parent / "data" / "legacy_schema.sql"
SESSION_TIMEZONE = "Pacific/Chatham"

_database_numbers = itertools.count(1)


def _new_database_name(prefix: str) -> str:
    return f"{prefix}_{os.getpid()}_{next(_database_numbers)}"


def _migrate(dsn: str) -> None:
    from dnsscience._core import Connection
    from dnsscience.store.migrations import migrate

    connection = Connection(dsn)
    try:
        migrate(connection)
    finally:
        connection.close()


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PostgresCluster]:
    """A PostgreSQL cluster on 127.0.0.1 for the whole session, removed at the end."""
    with PostgresCluster(timezone=SESSION_TIMEZONE, max_connections=200) as cluster:
        yield cluster


@pytest.fixture(scope="session")
def _legacy_template(pg_cluster: PostgresCluster) -> str:
    name = _new_database_name("template_legacy")
    dsn = pg_cluster.create_database(name)
    pg_cluster.run_sql_file(dsn, LEGACY_SCHEMA)
    return name


@pytest.fixture(scope="session")
def _migrated_template(pg_cluster: PostgresCluster) -> str:
    name = _new_database_name("template_migrated")
    _migrate(pg_cluster.create_database(name))
    return name


@pytest.fixture(scope="session")
def _migrated_legacy_template(pg_cluster: PostgresCluster, _legacy_template: str) -> str:
    name = _new_database_name("template_migrated_legacy")
    _migrate(pg_cluster.create_database(name, template=_legacy_template))
    return name


def _database_from(cluster: PostgresCluster, template: str) -> Iterator[str]:
    name = _new_database_name("test")
    dsn = cluster.create_database(name, template=template)
    try:
        yield dsn
    finally:
        cluster.drop_database(name)


@pytest.fixture
def empty_database(pg_cluster: PostgresCluster) -> Iterator[str]:
    """The URL of a new, empty database, dropped after the test."""
    yield from _database_from(pg_cluster, "template0")


@pytest.fixture
def legacy_database(pg_cluster: PostgresCluster, _legacy_template: str) -> Iterator[str]:
    """The URL of a new database shaped like the original platform's production one."""
    yield from _database_from(pg_cluster, _legacy_template)


@pytest.fixture
def migrated_database(pg_cluster: PostgresCluster, _migrated_template: str) -> Iterator[str]:
    """The URL of a new database with every dnsscience migration applied."""
    yield from _database_from(pg_cluster, _migrated_template)


@pytest.fixture
def migrated_legacy_database(
    pg_cluster: PostgresCluster, _migrated_legacy_template: str
) -> Iterator[str]:
    """The URL of a new legacy-shaped database with every dnsscience migration applied."""
    yield from _database_from(pg_cluster, _migrated_legacy_template)


@pytest.fixture
def pg_connect() -> Iterator[Callable[[str], object]]:
    """A factory ``pg_connect(dsn)`` of ``dnsscience._core.Connection`` objects.

    Every connection it opened is closed after the test.
    """
    from dnsscience._core import Connection

    opened = []

    def connect(dsn: str) -> Connection:
        connection = Connection(dsn)
        opened.append(connection)
        return connection

    yield connect
    for connection in opened:
        connection.close()
