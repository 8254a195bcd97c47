"""Start and stop the test bed's server processes.

Every child gets ``PR_SET_PDEATHSIG`` = SIGTERM on Linux, so the kernel stops it
when the thread that started it dies, even if Python is killed with SIGKILL and
no cleanup code runs.
"""

from __future__ import annotations

import ctypes
import logging
import shutil
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from dnsscience.testbed.network import LOOPBACK_IPV4, format_nameserver

logger = logging.getLogger(__name__)

__all__ = ["ManagedProcess", "ServerProcess", "find_program"]

_PR_SET_PDEATHSIG = 1


def _stop_with_parent() -> None:
    """Ask the kernel to send SIGTERM to this child when its parent dies (Linux only)."""
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class ManagedProcess:
    """A server child process whose output goes to a log file."""

    def __init__(self, name: str, command: Sequence[str], log_path: Path) -> None:
        self.name = name
        self.command = list(command)
        self.log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def start(
        self,
        env: dict[str, str] | None = None,
        capture_stdout: bool = False,
        cwd: Path | None = None,
    ) -> None:
        """Start the command with stderr appended to ``log_path``.

        stdout goes to the log too, unless ``capture_stdout`` makes it a pipe
        that the ``stdout`` property returns.
        """
        logger.info("starting %s: %s", self.name, " ".join(self.command))
        with open(self.log_path, "ab") as log:
            self._process = subprocess.Popen(
                self.command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE if capture_stdout else log,
                stderr=log,
                preexec_fn=_stop_with_parent,
                env=env,
                cwd=cwd,
            )

    @property
    def stdout(self):
        """The child's stdout pipe when started with ``capture_stdout``, else None."""
        return self._process.stdout if self._process else None

    def is_running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def log_tail(self, lines: int = 20) -> str:
        """Return the last lines of the log, for error messages."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout: float = 10.0) -> None:
        """Send SIGTERM, wait up to ``timeout`` seconds, then SIGKILL. Safe to call twice."""
        process = self._process
        if process is None:
            return
        self._process = None
        if process.stdout is not None:
            process.stdout.close()
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                logger.warning(
                    "%s (pid %d) ignored SIGTERM for %.0f s; killing it",
                    self.name,
                    process.pid,
                    timeout,
                )
                process.kill()
                process.wait()
        logger.info("stopped %s (pid %d, exit status %s)", self.name, process.pid, process.returncode)


def find_program(name: str, package: str) -> str:
    """Return the path of ``name`` on PATH or in /usr/sbin.

    Raises FileNotFoundError naming the Debian ``package`` that provides it.
    """
    for candidate in (name, f"/usr/sbin/{name}"):
        path = shutil.which(candidate)
        if path:
            return path
    raise FileNotFoundError(
        f"{name} was not found on PATH or in /usr/sbin; install the Debian package {package}"
    )


class ServerProcess:
    """Lifecycle shared by the test bed's servers: stop, pid, state, context manager.

    Subclasses implement ``start()`` and keep their :class:`ManagedProcess` in
    ``self._process`` while it runs.
    """

    _process: ManagedProcess | None = None

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        """Stop the server; safe to call when it is not running."""
        if self._process is not None:
            self._process.stop()
            self._process = None

    @property
    def pid(self) -> int | None:
        """Process id of the running server, or None."""
        return self._process.pid if self._process else None

    def is_running(self) -> bool:
        return self._process is not None and self._process.is_running()

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class LoopbackDnsServer(ServerProcess):
    """A test bed DNS server on 127.0.0.1; subclasses set ``self.port``."""

    port: int

    @property
    def host(self) -> str:
        return LOOPBACK_IPV4

    @property
    def nameserver(self) -> str:
        """``127.0.0.1:PORT``."""
        return format_nameserver(LOOPBACK_IPV4, self.port)
