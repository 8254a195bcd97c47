"""Command-line options that the CLI and the daemons share."""

from __future__ import annotations

import argparse

__all__ = ["LOG_LEVELS", "add_env_file", "add_log_level"]

#: Values of ``--log-level``, from the most to the least verbose.
LOG_LEVELS = ["DEBUG", "INFO", "WARNING", "ERROR"]


def add_env_file(parser: argparse.ArgumentParser) -> None:
    """Add ``--env-file PATH``, read by ``Settings.from_environment``."""
    parser.add_argument(
        "--env-file",
        metavar="PATH",
        help="read KEY=VALUE settings from PATH (also DNSSCIENCE_ENV_FILE); "
        "variables already in the environment take precedence",
    )


def add_log_level(parser: argparse.ArgumentParser) -> None:
    """Add the CLI's ``--log-level``, left unset unless given so a subcommand may repeat it."""
    parser.add_argument(
        "--log-level",
        default=argparse.SUPPRESS,
        choices=LOG_LEVELS,
        help="minimum level logged to standard error (default WARNING)",
    )
