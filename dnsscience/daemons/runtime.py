"""The runtime shared by every dnsscience daemon: arguments, logging, signals, pid
file, database connection with retries, the schema check and the batch loop.

A daemon supplies a :class:`Worker`; :func:`run_daemon` drives it until SIGTERM or
SIGINT, or after one pass over the due work with ``--once``.
"""

from __future__ import annotations

import argparse
import logging
import os
import resource
import signal
import socket
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from dnsscience import __version__
from dnsscience._options import LOG_LEVELS, add_env_file
from dnsscience.errors import ConfigurationError, DatabaseError, SchemaError

__all__ = [
    "EXIT_CONFIGURATION",
    "EXIT_DATABASE",
    "EXIT_SCHEMA",
    "DRAIN_SECONDS",
    "StopSignal",
    "Worker",
    "build_argument_parser",
    "configure_logging",
    "instance_name",
    "raise_open_file_limit",
    "run_daemon",
]

#: Exit status when the configuration is unusable.
EXIT_CONFIGURATION = 3
#: Exit status when the database lacks a required table, column or constraint.
EXIT_SCHEMA = 4
#: Exit status of a ``--once`` run that could not reach or use the database.
EXIT_DATABASE = 4

#: After SIGTERM, how long work already in flight may run before the daemon exits.
DRAIN_SECONDS = 20.0
#: Pause after a pass that found nothing due.
IDLE_SECONDS = 30.0
#: Maximum pause between attempts to reach the database, in seconds.
MAX_RECONNECT_SECONDS = 60.0
#: Attempts a ``--once`` run makes to reach or use the database (pauses of 1, 2 and
#: 4 s between them) before it exits with EXIT_DATABASE. A daemon retries forever.
ONCE_DATABASE_ATTEMPTS = 4

LOG_FORMAT = "%(asctime)s - %(name)s - %(levelname)s - %(message)s"
LOG_DATE_FORMAT = "%Y-%m-%d %H:%M:%S"


class StopSignal:
    """Turns SIGTERM and SIGINT into a flag that the batch loop checks."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.signal_name: str | None = None

    def install(self) -> None:
        """Install the handlers; call from the main thread."""
        signal.signal(signal.SIGTERM, self._handle)
        signal.signal(signal.SIGINT, self._handle)

    def _handle(self, number: int, _frame: Any) -> None:
        self.signal_name = signal.Signals(number).name
        self._event.set()

    def set(self) -> None:
        self._event.set()

    @property
    def requested(self) -> bool:
        return self._event.is_set()

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; return True as soon as a stop is requested."""
        return self._event.wait(seconds)


class Worker(Protocol):
    """One daemon's work, driven by :func:`run_daemon`."""

    #: Schema scope passed to ``dnsscience.store.schema.check``.
    schema_scope: str
    #: Settings part of the start-up log line: "email", "tls" or None for all.
    settings_part: str | None

    def open(self, connection: Any) -> None:
        """Prepare for work (DNS engine, sessions); ``connection`` is ready."""

    def run_batch(self, connection: Any, stop: StopSignal) -> int:
        """Claim due work, process it and commit it. Return how many items were done.

        A worker may set ``last_claimed`` to the number of items it claimed, so a
        batch that claimed work but stored none is reported as stalled, not idle.
        """

    def close(self) -> None:
        """Release what open() acquired."""


def instance_name() -> str:
    """Return ``host:pid``, the id this process claims work under."""
    return f"{socket.gethostname()}:{os.getpid()}"


def build_argument_parser(prog: str, description: str) -> argparse.ArgumentParser:
    """Return the argument parser shared by the daemons."""
    from dnsscience.config import VARIABLES

    lines = ["environment variables (default in brackets):"]
    for name, (default, meaning) in VARIABLES.items():
        lines.append(f"  {name} [{default}]: {meaning}" if default else f"  {name}: {meaning}")
    lines += [
        "",
        "exit status: 0 stopped normally, 3 unusable configuration, 4 a required schema "
        "gap, or (with --once) a database that could not be reached or used",
    ]
    parser = argparse.ArgumentParser(
        prog=prog,
        description=description,
        epilog="\n".join(lines),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--once", action="store_true", help="process what is due now, then exit")
    add_env_file(parser)
    parser.add_argument(
        "--log-level",
        default=os.environ.get("DNSSCIENCE_LOG_LEVEL", "INFO"),
        choices=LOG_LEVELS,
        help="minimum level logged (default: DNSSCIENCE_LOG_LEVEL, else INFO)",
    )
    parser.add_argument(
        "--log-file",
        metavar="PATH",
        help="also append the log to PATH (the original daemons used "
        "/var/log/dnsscience/<name>.log); the log always goes to standard output too",
    )
    parser.add_argument(
        "--pid-file",
        metavar="PATH",
        help="write the process id to PATH and remove it on exit (the original daemons "
        "used /var/run/dnsscience/<name>.pid)",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser


def configure_logging(name: str, level: str, log_file: str | None) -> logging.Logger:
    """Log to standard output (journald under systemd) and optionally to a file."""
    formatter = logging.Formatter(LOG_FORMAT, LOG_DATE_FORMAT)
    formatter.converter = time.gmtime
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stdout)]
    if log_file:
        Path(log_file).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_file))
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        handler.setFormatter(formatter)
        root.addHandler(handler)
    root.setLevel(level)
    return logging.getLogger(name)


def raise_open_file_limit(needed: int, logger: logging.Logger) -> None:
    """Raise the soft RLIMIT_NOFILE to ``needed`` (capped by the hard limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        logger.info("Raised the open-file limit from %d to %d", soft, target)
    if hard != resource.RLIM_INFINITY and hard < needed:
        logger.warning(
            "The open-file hard limit %d is below the %d that the concurrency needs; "
            "raise LimitNOFILE or lower the concurrency",
            hard,
            needed,
        )


class _PidFile:
    def __init__(self, path: str | None) -> None:
        self.path = Path(path) if path else None

    def __enter__(self) -> _PidFile:
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_text(f"{os.getpid()}\n")
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.path is not None:
            self.path.unlink(missing_ok=True)


def _connect(
    conninfo: str, stop: StopSignal, logger: logging.Logger, attempts: int | None
) -> Any | None:
    """Open a database connection, retrying with backoff until it works or a stop.

    Returns None after a stop. With ``attempts``, raises the last DatabaseError
    once that many attempts have failed.
    """
    from dnsscience import _core

    delay = 1.0
    failures = 0
    while not stop.requested:
        try:
            connection = _core.Connection(conninfo)
            logger.info("Database connection established")
            return connection
        except DatabaseError as error:
            failures += 1
            if attempts is not None and failures >= attempts:
                raise
            logger.error("Database connection failed: %s; retrying in %.0f s", error, delay)
            if stop.wait(delay):
                break
            delay = min(delay * 2, MAX_RECONNECT_SECONDS)
    return None


def _check_schema(connection: Any, scope: str, logger: logging.Logger) -> bool:
    """Log every schema gap; return False when a required one stops the daemon."""
    from dnsscience.store import schema

    gaps = schema.check(connection, scope=scope)
    blocking = False
    for gap in gaps:
        if gap.required:
            logger.error("Schema check failed: %s", gap.describe())
            blocking = True
        else:
            logger.warning("Schema check: %s; skipping that part", gap.describe())
    return not blocking


def run_daemon(
    name: str,
    worker: Worker,
    settings: Any,
    arguments: argparse.Namespace,
    logger: logging.Logger,
) -> int:
    """Run ``worker`` in batches until stopped. Return the process exit status."""
    from dnsscience import metrics
    from dnsscience.store.heartbeat import Heartbeat

    stop = StopSignal()
    stop.install()
    with _PidFile(arguments.pid_file):
        logger.info("%s daemon started (PID: %d), version %s", name, os.getpid(), __version__)
        logger.info("Settings: %s", settings.redacted(worker.settings_part))
        metrics.set_build_info(name)
        server = metrics.start_metrics_server(settings.metrics_port, daemon=name)
        heartbeat = Heartbeat(
            name,
            idle_seconds=IDLE_SECONDS,
            attempt_retention_days=settings.attempt_retention_days,
        )
        try:
            status = _run_loop(worker, settings, arguments.once, stop, heartbeat, logger)
        finally:
            if server is not None:
                server.close()
        logger.info("%s daemon stopped", name)
        return status


def _run_loop(
    worker: Worker,
    settings: Any,
    once: bool,
    stop: StopSignal,
    heartbeat: Any,
    logger: logging.Logger,
) -> int:
    attempts = ONCE_DATABASE_ATTEMPTS if once else None
    try:
        connection = _connect(settings.conninfo(), stop, logger, attempts)
    except DatabaseError as error:
        logger.error("Database connection failed %d times, giving up (--once): %s", attempts, error)
        return EXIT_DATABASE
    if connection is None:
        return 0
    try:
        if not _check_schema(connection, worker.schema_scope, logger):
            logger.error("Run 'dnsscience db migrate' with this configuration, then restart")
            return EXIT_SCHEMA
        heartbeat.start(connection)
        worker.open(connection)
        return _batches(worker, connection, once, stop, heartbeat, logger)
    except ConfigurationError as error:
        logger.error("Configuration error: %s", error)
        return EXIT_CONFIGURATION
    finally:
        worker.close()
        heartbeat.stop(connection)
        connection.close()
        if stop.requested:
            logger.info("Shutting down after %s", stop.signal_name or "a stop request")


def _batches(
    worker: Worker,
    connection: Any,
    once: bool,
    stop: StopSignal,
    heartbeat: Any,
    logger: logging.Logger,
) -> int:
    from dnsscience import metrics

    delay = 1.0
    failures = 0
    while not stop.requested:
        started = time.monotonic()
        try:
            done = worker.run_batch(connection, stop)
            delay = 1.0
            failures = 0
        except SchemaError as error:
            logger.error("Schema error: %s; run 'dnsscience db migrate'", error)
            metrics.count_error("schema")
            return EXIT_SCHEMA
        except DatabaseError as error:
            metrics.count_error("database")
            heartbeat.count_errors({"database": 1})
            failures += 1
            if once and failures >= ONCE_DATABASE_ATTEMPTS:
                logger.error("Database error %d times in a row, giving up (--once): %s",
                             failures, error)
                return EXIT_DATABASE
            logger.error("Database error: %s; retrying in %.0f s", error, delay)
            if stop.wait(delay):
                break
            delay = min(delay * 2, MAX_RECONNECT_SECONDS)
            continue
        elapsed = time.monotonic() - started
        if done:
            metrics.observe_batch(done, elapsed)
            heartbeat.beat(connection, batch_size=done, batch_seconds=elapsed)
            continue
        if getattr(worker, "last_claimed", 0):
            # Work was claimed but nothing was stored: a working beat without
            # progress, which 'dnsscience health' reports as stalled.
            heartbeat.beat(connection, batch_size=0, batch_seconds=elapsed)
        else:
            heartbeat.idle(connection)
        if once:
            logger.info("Nothing more is due; exiting (--once)")
            return 0
        stop.wait(IDLE_SECONDS)
    return 0


def main_entry(
    prog: str,
    description: str,
    daemon_name: str,
    make_worker: Any,
    argv: Sequence[str] | None = None,
) -> int:
    """Parse arguments, load settings, configure logging and run a daemon."""
    from dnsscience.config import Settings

    arguments = build_argument_parser(prog, description).parse_args(argv)
    logger = configure_logging(daemon_name, arguments.log_level, arguments.log_file)
    try:
        settings = Settings.from_environment(env_file=arguments.env_file)
        worker = make_worker(settings, logger)
    except ConfigurationError as error:
        logger.error("Configuration error: %s", error)
        return EXIT_CONFIGURATION
    return run_daemon(daemon_name, worker, settings, arguments, logger)
