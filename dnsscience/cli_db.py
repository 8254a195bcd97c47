"""The ``dnsscience db`` subcommands: migrate, status and check.

:func:`add_db_parser` adds them to the ``dnsscience`` command line. Each
handler takes the parsed arguments and returns the exit status: 0 on success,
1 on a required schema gap or a changed migration. Configuration and database
errors propagate as exceptions, which the CLI maps to its exit codes.
"""

from __future__ import annotations

import argparse
import logging
import sys

from dnsscience._options import add_env_file
from dnsscience.config import Settings
from dnsscience.store import connect, schema
from dnsscience.store import migrations as migration_runner

logger = logging.getLogger(__name__)

__all__ = ["add_db_parser", "run_check", "run_migrate", "run_status"]


#: Exit status of ``db check`` on a required gap, the same as a daemon that stops on one.
SCHEMA_GAP_STATUS = 4


def _out(line: str) -> None:
    sys.stdout.write(line + "\n")


def _connect(arguments: argparse.Namespace):
    settings = Settings.from_environment(env_file=arguments.env_file)
    return connect(settings.conninfo())


def run_migrate(arguments: argparse.Namespace) -> int:
    """Apply pending migrations and print each one applied."""
    connection = _connect(arguments)
    try:
        applied = migration_runner.migrate(connection)
    finally:
        connection.close()
    for migration in applied:
        _out(f"applied {migration.version}_{migration.name}")
    if not applied:
        _out("the database is up to date")
    return 0


def run_status(arguments: argparse.Namespace) -> int:
    """Print each migration's version, name, state and time applied (UTC)."""
    connection = _connect(arguments)
    try:
        states = migration_runner.status(connection)
    finally:
        connection.close()
    for state in states:
        applied_at = state.applied_at.strftime("%Y-%m-%d %H:%M:%S UTC") if state.applied_at else "-"
        _out(f"{state.version}  {state.name:<28} {state.state:<8} {applied_at}")
    return 1 if any(state.state == "changed" for state in states) else 0


def run_check(arguments: argparse.Namespace) -> int:
    """Print every schema gap; return 4 (the CLI's database status) when a required one exists."""
    connection = _connect(arguments)
    try:
        gaps = []
        for scope in arguments.scope or schema.known_scopes():
            gaps.extend((scope, gap) for gap in schema.check(connection, scope=scope))
    finally:
        connection.close()
    seen = set()
    for scope, gap in gaps:
        line = gap.describe()
        if line not in seen:
            seen.add(line)
            _out(f"[{scope}] {line}")
    if not gaps:
        _out("the schema has everything the selected programs need")
    return SCHEMA_GAP_STATUS if any(gap.required for _, gap in gaps) else 0


def add_db_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add ``db migrate``, ``db status`` and ``db check`` to ``subparsers``."""
    parser = subparsers.add_parser(
        "db",
        help="migrate and check the PostgreSQL schema",
        description="Manage the database schema. The database comes from DATABASE_URL, "
        "the DB_* variables or libpq's PG* variables.",
    )
    commands = parser.add_subparsers(dest="db_command", metavar="SUBCOMMAND", required=True)

    def add(name: str, help_text: str, handler) -> argparse.ArgumentParser:
        command = commands.add_parser(name, help=help_text, description=help_text)
        add_env_file(command)
        command.set_defaults(handler=handler)
        return command

    add("migrate", "apply the pending dnsscience migrations", run_migrate)
    add("status", "list the migrations and whether each is applied, pending or changed",
        run_status)
    check = add("check", "list what the database lacks; exit 4 on a required gap", run_check)
    check.add_argument(
        "--scope", action="append", choices=schema.known_scopes(),
        help="program whose needs to check (repeatable; default: all)",
    )
