"""The dashboard's HTTP server: a standard-library thread server on 127.0.0.1.

Paths:

- ``/``: the dashboard page, read afresh from the database on every request.
- ``/health``: the health report as JSON, with status 200 when healthy and 503
  otherwise, for a load balancer or an uptime check.

Only GET and HEAD are served. A database failure returns status 503 with the
error in the body and is logged.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from dnsscience.dashboard.data import collect
from dnsscience.dashboard.page import render_page
from dnsscience.errors import DatabaseError
from dnsscience.health import check_health

__all__ = ["LISTEN_ADDRESS", "DashboardServer"]

logger = logging.getLogger(__name__)

LISTEN_ADDRESS = "127.0.0.1"


class _Handler(BaseHTTPRequestHandler):
    server: _DashboardHTTPServer

    def do_GET(self) -> None:  # noqa: N802 - name fixed by BaseHTTPRequestHandler
        self._respond(head=False)

    def do_HEAD(self) -> None:  # noqa: N802
        self._respond(head=True)

    def _respond(self, head: bool) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/":
            status, content_type, body = self._page()
        elif path == "/health":
            status, content_type, body = self._health()
        else:
            status, content_type = 404, "text/plain; charset=utf-8"
            body = b"not found; the dashboard is at /\n"
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _page(self) -> tuple[int, str, bytes]:
        try:
            data = collect(self.server.connection, hours=self.server.hours)
        except DatabaseError as error:
            logger.error("Dashboard could not read the database: %s", error)
            page = (
                '<!DOCTYPE html><html><head><meta charset="utf-8">'
                "<title>dnsscience dashboard</title></head><body>"
                f"<h1>Database unavailable</h1><p>{escape(str(error))}</p></body></html>\n"
            )
            return 503, "text/html; charset=utf-8", page.encode()
        return 200, "text/html; charset=utf-8", render_page(data).encode()

    def _health(self) -> tuple[int, str, bytes]:
        try:
            report = check_health(self.server.connection)
        except DatabaseError as error:
            logger.error("Dashboard could not read the heartbeats: %s", error)
            body = json.dumps({"healthy": False, "error": str(error)})
            return 503, "application/json", body.encode()
        body = json.dumps(report.to_dict(), sort_keys=True)
        return (200 if report.healthy else 503), "application/json", body.encode()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        logger.info("%s %s", self.address_string(), format % args)


class _DashboardHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port: int, connection: Any, hours: int) -> None:
        self.connection = connection
        self.hours = hours
        super().__init__((LISTEN_ADDRESS, port), _Handler)


class DashboardServer:
    """The dashboard on 127.0.0.1:``port`` (0 picks a free port), served by a thread.

    ``connect`` opens the database connection (for example
    ``lambda: _core.Connection(conninfo)``); it is called once, here. Raises
    OSError when the port cannot be bound.
    """

    def __init__(self, connect: Callable[[], Any], port: int = 0, hours: int = 24) -> None:
        self._connection = connect()
        try:
            self._httpd = _DashboardHTTPServer(port, self._connection, hours)
        except OSError:
            self._connection.close()
            raise
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The TCP port bound."""
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        """The URL of the page."""
        return f"http://{LISTEN_ADDRESS}:{self.port}/"

    def start(self) -> DashboardServer:
        """Serve in a background thread and return self."""
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name="dashboard", daemon=True
        )
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving, close the socket and the database connection."""
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._connection.close()
