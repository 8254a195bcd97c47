"""The ``dnsscience`` command line.

Exit status:
    0  success
    1  the command ran, but at least one domain could not be checked completely
       (an invalid name, or a lookup that timed out or failed)
    2  invalid command-line arguments
    3  the configuration is unusable (an environment variable, the env file)
    4  the database failed, or lacks a table, column or constraint ('db check')
  130  interrupted (Ctrl-C)
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence

from dnsscience import __version__
from dnsscience._options import add_log_level
from dnsscience.cli_db import add_db_parser
from dnsscience.cli_ops import add_ops_parsers
from dnsscience.cli_tls import add_tls_parser
from dnsscience.errors import ConfigurationError, DatabaseError, InvalidArgumentError

EXIT_OK = 0
EXIT_INCOMPLETE = 1
EXIT_USAGE = 2
EXIT_CONFIGURATION = 3
EXIT_DATABASE = 4
EXIT_INTERRUPTED = 130

logger = logging.getLogger("dnsscience")


def _add_email_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "email",
        help="check the email security of domains",
        description="Check MX, SPF, DMARC, DKIM, MTA-STS, TLS-RPT and BIMI of each DOMAIN.",
    )
    parser.add_argument("domains", nargs="+", metavar="DOMAIN")
    parser.add_argument(
        "--nameserver",
        action="append",
        metavar="IP:PORT",
        help="nameserver to query (repeatable; IPv6 as [addr]:port, port 53 when omitted); "
        "default: DNSSCIENCE_NAMESERVERS, else the system resolver",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object per line")
    parser.add_argument(
        "--timeout", type=float, default=2.0, help="deadline of one DNS query in seconds (2)"
    )
    parser.add_argument(
        "--dkim-selector",
        action="append",
        metavar="NAME",
        help="DKIM selector to probe (repeatable); default: the built-in list of 20",
    )
    add_log_level(parser)
    parser.set_defaults(handler=_run_email)


def _format_email(result) -> str:
    def flag(value: bool) -> str:
        return "yes" if value else "no"

    lines = [f"{result.domain}"]
    if result.error:
        lines.append(f"  error:    {result.error}")
        return "\n".join(lines)
    if result.null_mx:
        mx = "null MX (accepts no mail)"
    else:
        mx = ", ".join(result.mx_records) if result.mx_records else "none"
    lines.append(f"  MX:       {mx}")
    spf = result.spf_record or "none"
    if result.has_spf:
        spf += (
            f"  [valid: {flag(result.spf_valid)}, result for unmatched senders: "
            f"{result.spf_result}, DNS lookups: {result.spf_lookup_count}]"
        )
    lines.append(f"  SPF:      {spf}")
    dmarc = result.dmarc_record or "none"
    if result.dmarc_policy:
        dmarc += f"  [policy: {result.dmarc_policy}]"
    lines.append(f"  DMARC:    {dmarc}")
    dkim = ", ".join(result.dkim_selectors) if result.dkim_selectors else "none found"
    lines.append(f"  DKIM:     {dkim}")
    lines.append(f"  MTA-STS:  {result.mta_sts_record or 'none'}")
    lines.append(f"  TLS-RPT:  {result.tls_rpt_record or 'none'}")
    lines.append(f"  BIMI:     {result.bimi_record or 'none'}")
    failed = {name: status for name, status in result.lookups.items()
              if status in ("timeout", "servfail", "refused", "error")}
    if failed:
        details = ", ".join(f"{name}: {status}" for name, status in sorted(failed.items()))
        lines.append(f"  incomplete lookups: {details}")
    for finding in result.findings:
        lines.append(f"  {finding.severity:<8}{finding.code}: {finding.message}")
    return "\n".join(lines)


def _run_email(arguments: argparse.Namespace) -> int:
    from dnsscience.email import check_email_many

    status = EXIT_OK
    results = check_email_many(
        arguments.domains,
        nameservers=arguments.nameserver,
        timeout=arguments.timeout,
        dkim_selectors=arguments.dkim_selector,
    )
    for result in results:
        if arguments.json:
            print(json.dumps(result.to_dict(), sort_keys=True), flush=True)
        else:
            print(_format_email(result), flush=True)
        if result.error or not result.complete:
            status = EXIT_INCOMPLETE
    return status


def _add_demo_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="run the demo on the local test bed",
        description="Start the local test bed (DNS servers, TLS servers, a throwaway "
        "PostgreSQL), check every generated domain with emaild, print a report and "
        "stop everything it started. Needs root and the Debian packages that "
        "./dev setup installs.",
    )
    parser.add_argument(
        "--domains", type=int, default=10_000, help="generated domains (10000)"
    )
    parser.add_argument("--seed", type=int, default=1, help="generator seed (1)")
    add_log_level(parser)
    parser.set_defaults(handler=_run_demo)


def _run_demo(arguments: argparse.Namespace) -> int:
    from dnsscience.demo import run_demo

    return run_demo(domains=arguments.domains, seed=arguments.seed)


def build_parser() -> argparse.ArgumentParser:
    """Return the parser of the ``dnsscience`` command."""
    parser = argparse.ArgumentParser(
        prog="dnsscience",
        description="Measure the email security and TLS certificates of many domains.",
        epilog="Exit status: 0 success, 1 some domain incomplete, 2 usage, "
        "3 configuration, 4 database or schema, 130 interrupted.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    add_log_level(parser)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _add_email_parser(subparsers)
    add_tls_parser(subparsers)
    _add_demo_parser(subparsers)
    add_db_parser(subparsers)
    add_ops_parsers(subparsers)
    _add_log_level_everywhere(parser)
    return parser


def _add_log_level_everywhere(parser: argparse.ArgumentParser) -> None:
    """Let ``--log-level`` follow any subcommand, as it may precede them all."""
    for action in parser._actions:
        if not isinstance(action, argparse._SubParsersAction):
            continue
        for subparser in action.choices.values():
            if "--log-level" not in subparser._option_string_actions:
                add_log_level(subparser)
            _add_log_level_everywhere(subparser)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = build_parser()
    arguments = parser.parse_args(argv)
    logging.basicConfig(
        level=getattr(arguments, "log_level", "WARNING"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        return arguments.handler(arguments)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except InvalidArgumentError as error:
        print(f"dnsscience: {error}", file=sys.stderr)
        return EXIT_USAGE
    except ConfigurationError as error:
        print(f"dnsscience: configuration error: {error}", file=sys.stderr)
        return EXIT_CONFIGURATION
    except DatabaseError as error:
        print(f"dnsscience: database error: {error}", file=sys.stderr)
        return EXIT_DATABASE


if __name__ == "__main__":
    raise SystemExit(main())
