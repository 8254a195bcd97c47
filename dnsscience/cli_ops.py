"""Operations subcommands of ``dnsscience``: domains, results, health, dashboard.

:func:`add_ops_parsers` registers them on the main parser's subparsers. Each
sets ``handler`` to a function that takes the parsed arguments and returns the
exit status. The database comes from the settings (``DATABASE_URL``, ``DB_*`` or
libpq's ``PG*`` variables, and ``--env-file``).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import threading
from collections.abc import Sequence
from typing import Any

from dnsscience._options import add_env_file, add_log_level

__all__ = ["add_ops_parsers"]

# The exit statuses of dnsscience.cli, repeated because cli.py imports this module
# at its top, before it defines them.
EXIT_OK = 0
EXIT_INCOMPLETE = 1
EXIT_USAGE = 2

#: Default port of ``dnsscience dashboard`` on 127.0.0.1.
DASHBOARD_PORT = 9480


def _add_common(parser: argparse.ArgumentParser) -> None:
    add_env_file(parser)
    add_log_level(parser)


def _open_connection(arguments: argparse.Namespace) -> Any:
    from dnsscience import _core
    from dnsscience.config import Settings

    settings = Settings.from_environment(env_file=getattr(arguments, "env_file", None))
    return _core.Connection(settings.conninfo())


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"invalid value {text!r}: expected a whole number >= 1")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"invalid value {text!r}: expected a number > 0")
    return value


# -- domains -------------------------------------------------------------------


def _print_problems(problems: Sequence[Any]) -> None:
    for problem in problems:
        print(f"  {problem.describe()}")


def _print_add_summary(summary: Any) -> int:
    print(f"added: {len(summary.added)}")
    print(f"reactivated: {len(summary.reactivated)}")
    print(f"already present: {len(summary.already_present)}")
    if summary.duplicates:
        print(f"duplicates in the input: {summary.duplicates}")
    print(f"invalid: {len(summary.invalid)}")
    _print_problems(summary.invalid)
    return EXIT_INCOMPLETE if summary.invalid else EXIT_OK


def _run_domains_add(arguments: argparse.Namespace) -> int:
    from dnsscience.store.domains import add_domains

    connection = _open_connection(arguments)
    try:
        summary = add_domains(connection, arguments.names)
    finally:
        connection.close()
    return _print_add_summary(summary)


def _run_domains_import(arguments: argparse.Namespace) -> int:
    from dnsscience.store.domains import add_domains, read_domain_file

    names = read_domain_file(arguments.file)
    connection = _open_connection(arguments)
    try:
        summary = add_domains(connection, names)
    finally:
        connection.close()
    print(f"read {len(names)} names from {arguments.file}")
    return _print_add_summary(summary)


def _print_name_outcome(
    label: str,
    done: list[str],
    missing: list[str],
    invalid: list,
    missing_label: str = "not found",
) -> int:
    print(f"{label}: {len(done)}")
    print(f"{missing_label}: {len(missing)}")
    for name in missing:
        print(f"  {name}")
    print(f"invalid: {len(invalid)}")
    _print_problems(invalid)
    return EXIT_INCOMPLETE if missing or invalid else EXIT_OK


def _run_domains_deactivate(arguments: argparse.Namespace) -> int:
    from dnsscience.store.domains import deactivate_domains

    connection = _open_connection(arguments)
    try:
        deactivated, missing, invalid = deactivate_domains(connection, arguments.names)
    finally:
        connection.close()
    return _print_name_outcome("deactivated", deactivated, missing, invalid)


def _run_domains_recheck(arguments: argparse.Namespace) -> int:
    from dnsscience.store.domains import recheck_domains

    connection = _open_connection(arguments)
    try:
        scheduled, missing, invalid = recheck_domains(connection, arguments.names)
    finally:
        connection.close()
    return _print_name_outcome(
        "due now for email and TLS checks", scheduled, missing, invalid, "not found or inactive"
    )


def _add_domains_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "domains",
        help="add, import, deactivate or recheck domains",
        description="Manage the domains table. Names are normalized (lower case, no "
        "trailing dot, IDNA); invalid names are listed with the reason. Exit status 1 "
        "when a name was invalid or not found.",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    add = actions.add_parser("add", help="add domains (reactivates inactive ones)")
    add.add_argument("names", nargs="+", metavar="NAME")
    _add_common(add)
    add.set_defaults(handler=_run_domains_add)

    import_ = actions.add_parser(
        "import",
        help="add the domains listed in a file",
        description="Add the domains in FILE: one name per line ('#' starts a comment "
        "line), a CSV file with a 'domain' or 'domain_name' header column, or a "
        "header-less 'rank,domain' CSV such as the Tranco list.",
    )
    import_.add_argument("file", metavar="FILE")
    _add_common(import_)
    import_.set_defaults(handler=_run_domains_import)

    deactivate = actions.add_parser(
        "deactivate", help="stop checking domains (their results are kept)"
    )
    deactivate.add_argument("names", nargs="+", metavar="NAME")
    _add_common(deactivate)
    deactivate.set_defaults(handler=_run_domains_deactivate)

    recheck = actions.add_parser(
        "recheck", help="make domains due now for the email and TLS daemons"
    )
    recheck.add_argument("names", nargs="+", metavar="NAME")
    _add_common(recheck)
    recheck.set_defaults(handler=_run_domains_recheck)


# -- results -------------------------------------------------------------------


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return " ".join(_cell(item) for item in value)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True, default=str)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def _run_results(arguments: argparse.Namespace) -> int:
    from dnsscience.store.records import email_results, tls_results

    read = email_results if arguments.kind == "email" else tls_results
    connection = _open_connection(arguments)
    try:
        records = read(
            connection,
            domains=arguments.domains or None,
            limit=arguments.limit,
            history=arguments.history,
        )
    finally:
        connection.close()

    rows = list(records)
    if not rows and not arguments.domains:
        print(f"dnsscience: no {arguments.kind} results are stored yet", file=sys.stderr)
    if arguments.format == "json":
        for row in rows:
            print(json.dumps(row, sort_keys=True, default=str))
    elif arguments.format == "csv":
        columns: list[str] = []
        for row in rows:
            columns.extend(key for key in row if key not in columns)
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow([_cell(row.get(column)) for column in columns])
    else:
        for row in rows:
            print(row.get("domain_name") or row.get("domain") or "?")
            for key, value in row.items():
                if key not in ("domain_name", "domain"):
                    print(f"  {key}: {_cell(value)}")
    if arguments.domains:
        found = {row.get("domain_name") or row.get("domain") for row in rows}
        missing = [name for name in arguments.domains if name.lower().rstrip(".") not in found]
        for name in missing:
            print(f"dnsscience: no {arguments.kind} result for {name}", file=sys.stderr)
        if missing:
            return EXIT_INCOMPLETE
    return EXIT_OK


def _add_results_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "results",
        help="print what the daemons stored",
        description="Print the stored email or TLS results, ordered by domain name. Exit "
        "status 1 when a DOMAIN given has no result.",
    )
    kinds = parser.add_subparsers(dest="kind", metavar="KIND", required=True)
    for kind, what in (("email", "email security"), ("tls", "TLS certificate")):
        results = kinds.add_parser(kind, help=f"print the stored {what} results")
        results.add_argument("domains", nargs="*", metavar="DOMAIN", help="only these domains")
        output = results.add_mutually_exclusive_group()
        output.add_argument(
            "--json",
            dest="format",
            action="store_const",
            const="json",
            help="print one JSON object per line",
        )
        output.add_argument(
            "--csv",
            dest="format",
            action="store_const",
            const="csv",
            help="print CSV with a header line",
        )
        results.add_argument(
            "--limit", type=_positive_int, default=100, help="print at most N records (100)"
        )
        results.add_argument(
            "--history",
            action="store_true",
            help="add the last 20 attempts (and for TLS the certificate changes)",
        )
        _add_common(results)
        results.set_defaults(handler=_run_results, format="text")


# -- health --------------------------------------------------------------------


def _run_health(arguments: argparse.Namespace) -> int:
    from dnsscience.health import check_health, format_report, report_json

    connection = _open_connection(arguments)
    try:
        report = check_health(
            connection,
            expected=arguments.expect or (),
            seen_within_seconds=arguments.since * 3600,
            stale_factor=arguments.stale_factor,
            progress_seconds=arguments.progress_minutes * 60,
        )
    finally:
        connection.close()
    print(report_json(report) if arguments.json else format_report(report))
    return EXIT_OK if report.healthy else EXIT_INCOMPLETE


def _add_health_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "health",
        help="show the daemon instances and whether they are healthy",
        description="Print every daemon instance that sent a heartbeat recently. An "
        "instance is stale when it has not beaten for STALE_FACTOR times the longer of "
        "its idle interval and its last batch, and stalled when it works but stored "
        "nothing for PROGRESS_MINUTES. Exit status 0 when all are healthy, 1 otherwise "
        "(also when no instance was seen or an --expect daemon has none alive).",
    )
    parser.add_argument(
        "--expect",
        action="append",
        metavar="DAEMON",
        help="daemon name that must have a live instance, such as dnsscience_emaild (repeatable)",
    )
    parser.add_argument(
        "--since",
        type=_positive_float,
        default=24.0,
        metavar="HOURS",
        help="ignore instances whose last beat is older than HOURS (24)",
    )
    parser.add_argument(
        "--stale-factor",
        type=_positive_float,
        default=3.0,
        help="multiple of the idle interval after which a silent instance is stale (3)",
    )
    parser.add_argument(
        "--progress-minutes",
        type=_positive_float,
        default=30.0,
        help="minutes a working instance may store nothing before it is stalled (30)",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    _add_common(parser)
    parser.set_defaults(handler=_run_health)


# -- dashboard -----------------------------------------------------------------


def _run_dashboard(arguments: argparse.Namespace) -> int:
    from dnsscience.dashboard import DashboardServer

    try:
        server = DashboardServer(
            lambda: _open_connection(arguments), port=arguments.port, hours=arguments.hours
        )
    except OSError as error:
        print(
            f"dnsscience: cannot listen on 127.0.0.1:{arguments.port}: {error.strerror}; "
            "choose another --port",
            file=sys.stderr,
        )
        return EXIT_USAGE
    server.start()
    print(f"dashboard at {server.url} (Ctrl-C stops it)", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
    return EXIT_OK


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(
            f"invalid port {text!r}: expected 1 to 65535, or 0 for any free port"
        )
    return value


def _hours(text: str) -> int:
    value = _positive_int(text)
    if value > 336:
        raise argparse.ArgumentTypeError(f"invalid value {text!r}: expected 1 to 336 hours")
    return value


def _add_dashboard_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "dashboard",
        help="serve a status page on 127.0.0.1",
        description="Serve a page with the daemon instances, collection rates, email "
        "security coverage, certificate expiry and open alerts, read from the database "
        "on every request. It listens on 127.0.0.1 only; /health returns the health "
        "report as JSON (status 503 when unhealthy).",
    )
    parser.add_argument(
        "--port",
        type=_port,
        default=DASHBOARD_PORT,
        help=f"TCP port on 127.0.0.1 ({DASHBOARD_PORT}; 0 picks a free one)",
    )
    parser.add_argument(
        "--hours", type=_hours, default=24, help="span of the collection rate chart (24)"
    )
    _add_common(parser)
    parser.set_defaults(handler=_run_dashboard)


def add_ops_parsers(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``domains``, ``results``, ``health`` and ``dashboard`` subcommands."""
    _add_domains_parser(subparsers)
    _add_results_parser(subparsers)
    _add_health_parser(subparsers)
    _add_dashboard_parser(subparsers)
