"""A throw-away PostgreSQL cluster on loopback for tests and the demo.

:class:`PostgresCluster` runs ``initdb`` and ``pg_ctl`` from the highest
PostgreSQL version installed under ``/usr/lib/postgresql`` in a temporary folder,
listens on 127.0.0.1 at a free port and on a unix socket inside that folder, and
trusts every local connection. Durability is switched off (``fsync``,
``synchronous_commit``, ``full_page_writes``) because the data is discarded.

PostgreSQL refuses to run as root, so when the caller is root the server
programs run as the ``postgres`` system user through ``runuser``. Databases are
created and SQL is run with the ``psql`` client of the same version, so this
module works without the compiled ``dnsscience._core``.

Example::

    with PostgresCluster() as cluster:
        dsn = cluster.create_database("scratch")
        cluster.run_sql(dsn, "CREATE TABLE t (x int)")
"""

from __future__ import annotations

import logging
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

logger = logging.getLogger(__name__)

__all__ = ["PostgresCluster", "PostgresClusterError", "find_postgres_bin_dir"]

POSTGRES_ROOT = Path("/usr/lib/postgresql")
SUPERUSER = "postgres"
SERVER_USER = "postgres"
_DATABASE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_START_ATTEMPTS = 3


class PostgresClusterError(RuntimeError):
    """A test-bed cluster could not be created, started, stopped or queried."""


def find_postgres_bin_dir(root: Path = POSTGRES_ROOT) -> Path:
    """Return the ``bin`` folder of the highest PostgreSQL major version under ``root``.

    Raises PostgresClusterError when no version with ``initdb`` is installed.
    """
    versions = []
    if root.is_dir():
        for entry in root.iterdir():
            if entry.name.isdigit() and (entry / "bin" / "initdb").exists():
                versions.append(int(entry.name))
    if not versions:
        raise PostgresClusterError(
            f"no PostgreSQL server found under {root}: install it with "
            "'apt-get install postgresql' (or run ./dev setup)"
        )
    return root / str(max(versions)) / "bin"


def _free_loopback_port() -> int:
    # NOTE: another process may take the port between this probe and the server
    # start. start() then retries with a new port.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class PostgresCluster:
    """A private PostgreSQL server on 127.0.0.1 with trust authentication.

    ``timezone`` sets the server's default session ``TimeZone``. Tests set it to
    a zone far from UTC, so a statement that depends on the session zone fails.
    The cluster and its folder exist from :meth:`start` until :meth:`stop`.
    """

    def __init__(
        self,
        bin_dir: Path | str | None = None,
        timezone: str = "UTC",
        max_connections: int = 100,
    ) -> None:
        self.bin_dir = Path(bin_dir) if bin_dir else find_postgres_bin_dir()
        self.timezone = timezone
        self.max_connections = max_connections
        self.port: int | None = None
        self.folder: Path | None = None
        self._running = False

    # -- lifecycle ---------------------------------------------------------

    @property
    def data_dir(self) -> Path:
        """The cluster's data directory (``PGDATA``)."""
        return self._require_folder() / "data"

    @property
    def socket_dir(self) -> Path:
        """The folder that contains the server's unix socket."""
        return self._require_folder()

    @property
    def log_path(self) -> Path:
        """The server log file, kept until :meth:`stop`."""
        return self._require_folder() / "server.log"

    @property
    def dsn(self) -> str:
        """A libpq URL for the superuser and the ``postgres`` database."""
        return self.dsn_for("postgres")

    def dsn_for(self, database: str) -> str:
        """Return a libpq URL for the superuser and ``database`` over TCP."""
        if self.port is None:
            raise PostgresClusterError("the cluster is not started: call start() first")
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        """Create the cluster in a new temporary folder and start the server."""
        if self._running:
            return
        self.folder = Path(tempfile.mkdtemp(prefix="dnsscience-pg-"))
        try:
            self._give_to_server_user(self.folder)
            self._initdb()
            last_error: PostgresClusterError | None = None
            for _ in range(_START_ATTEMPTS):
                self.port = _free_loopback_port()
                try:
                    self._pg_ctl("start")
                    break
                except PostgresClusterError as error:
                    last_error = error
                    logger.warning("PostgreSQL did not start on port %s, retrying", self.port)
            else:
                raise last_error  # type: ignore[misc]
        except BaseException:
            self._remove_folder()
            raise
        self._running = True
        logger.info("PostgreSQL test cluster started on 127.0.0.1:%s in %s", self.port, self.folder)

    def stop(self) -> None:
        """Stop the server and remove its folder, data included."""
        try:
            if self._running:
                self._pg_ctl("stop", "-m", "fast")
                logger.info("PostgreSQL test cluster on port %s stopped", self.port)
        finally:
            self._running = False
            self._remove_folder()
            self.port = None

    def restart(self) -> None:
        """Restart the server on the same port, keeping the data.

        Every open client connection is terminated, which tests use to check that
        callers reconnect after a database restart.
        """
        if not self._running:
            raise PostgresClusterError("the cluster is not started: call start() first")
        self._pg_ctl("restart", "-m", "fast")
        logger.info("PostgreSQL test cluster on port %s restarted", self.port)

    def __enter__(self) -> PostgresCluster:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- databases and SQL ---------------------------------------------------

    def create_database(self, name: str, template: str = "template0") -> str:
        """Create database ``name`` as a copy of ``template`` and return its DSN.

        ``name`` must be a lowercase SQL identifier. PostgreSQL copies the template
        only while no other session is connected to it.
        """
        self._check_name(name)
        self._check_name(template)
        self.run_sql(self.dsn, f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        return self.dsn_for(name)

    def drop_database(self, name: str) -> None:
        """Drop database ``name`` if it exists, terminating its open connections."""
        self._check_name(name)
        self.run_sql(self.dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def run_sql(self, dsn: str, sql: str) -> str:
        """Run ``sql`` (one or more statements) with psql and return its output.

        Each statement runs in its own transaction unless ``sql`` contains BEGIN and
        COMMIT. The first failing statement stops the run and raises PostgresClusterError.
        """
        return self._psql(dsn, ["-c", sql])

    def run_sql_file(self, dsn: str, path: Path | str) -> str:
        """Run the SQL file at ``path`` in one transaction and return psql's output."""
        return self._psql(dsn, ["--single-transaction", "-f", str(path)])

    def query(self, dsn: str, sql: str) -> list[list[str]]:
        """Run one query and return its rows as lists of text (NULL as '')."""
        output = self._psql(dsn, ["--no-align", "--tuples-only", "--field-separator=\x1f",
                                  "-c", sql])
        return [line.split("\x1f") for line in output.splitlines() if line]

    # -- helpers -------------------------------------------------------------

    def _require_folder(self) -> Path:
        if self.folder is None:
            raise PostgresClusterError("the cluster is not started: call start() first")
        return self.folder

    @staticmethod
    def _check_name(name: str) -> None:
        if not _DATABASE_NAME.match(name):
            raise ValueError(
                f"invalid database name {name!r}: use lowercase letters, digits and "
                "underscores, starting with a letter or underscore, at most 63 characters"
            )

    @staticmethod
    def _as_server_user() -> list[str]:
        # PostgreSQL's server programs exit when started by root.
        return ["runuser", "-u", SERVER_USER, "--"] if os.geteuid() == 0 else []

    @staticmethod
    def _give_to_server_user(path: Path) -> None:
        if os.geteuid() == 0:
            account = pwd.getpwnam(SERVER_USER)
            os.chown(path, account.pw_uid, account.pw_gid)

    def _run(self, command: list[str], what: str) -> str:
        completed = subprocess.run(command, capture_output=True, text=True, check=False)
        if completed.returncode != 0:
            details = (completed.stderr or completed.stdout).strip()
            raise PostgresClusterError(f"{what} failed (exit {completed.returncode}): {details}")
        return completed.stdout

    def _initdb(self) -> None:
        self._run(
            self._as_server_user() + [
                str(self.bin_dir / "initdb"),
                "--pgdata", str(self.data_dir),
                "--username", SUPERUSER,
                "--auth", "trust",
                "--encoding", "UTF8",
                "--locale", "C",
                "--no-sync",
            ],
            "initdb",
        )

    def _server_options(self) -> str:
        settings = {
            "listen_addresses": "127.0.0.1",
            "port": str(self.port),
            "unix_socket_directories": str(self.socket_dir),
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "max_connections": str(self.max_connections),
            "timezone": self.timezone,
            "log_timezone": "UTC",
        }
        return " ".join(f"-c {key}={value}" for key, value in settings.items())

    def _pg_ctl(self, action: str, *extra: str) -> None:
        command = self._as_server_user() + [
            str(self.bin_dir / "pg_ctl"),
            action,
            "--pgdata", str(self.data_dir),
            "--wait",
            "--timeout", "60",
            *extra,
        ]
        if action in ("start", "restart"):
            command += ["--log", str(self.log_path), "--options", self._server_options()]
        try:
            self._run(command, f"pg_ctl {action}")
        except PostgresClusterError as error:
            raise PostgresClusterError(f"{error}\nserver log:\n{self._log_tail()}") from None

    def _log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no server log)"

    def _psql(self, dsn: str, arguments: list[str]) -> str:
        command = [str(self.bin_dir / "psql"), "--no-psqlrc", "--quiet",
                   "-v", "ON_ERROR_STOP=1", "--dbname", dsn, *arguments]
        return self._run(command, "psql")

    def _remove_folder(self) -> None:
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None
