"""Debian's nginx as the TLS test bed's HTTPS server, with one ``server`` per certificate.

:class:`NginxServer` writes a configuration, pid file, error log and temporary
folders into its own folder and runs ``nginx`` in the foreground as a child
process. Each :class:`NginxSite` listens on its own loopback address at the shared
port, so nginx picks the server by address and every certificate is served no
matter which SNI a client sends. A site with ``reject_handshake`` becomes the
default server of its address and aborts handshakes for unknown SNI names with the
``unrecognized_name`` alert (``ssl_reject_handshake``, nginx 1.19.4 and later).

Weak certificates (RSA 1024, SHA-1 signatures) only load at OpenSSL security level
0, and nginx loads certificates before it applies ``ssl_ciphers``. nginx therefore
starts with ``OPENSSL_CONF`` pointing at a file that sets level 0 and TLS 1.0 as
OpenSSL's system defaults.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from dnsscience.testbed.ca import IssuedCertificate, TlsTestBedError

logger = logging.getLogger(__name__)

ALL_PROTOCOLS = ("TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3")

_OPENSSL_CONFIG = """\
openssl_conf = openssl_init

[openssl_init]
ssl_conf = ssl_module

[ssl_module]
system_default = system_default

[system_default]
CipherString = DEFAULT:@SECLEVEL=0
MinProtocol = TLSv1
"""

_MAIN_CONFIG = """\
worker_processes 1;
daemon off;
pid {directory}/nginx.pid;
error_log {directory}/error.log notice;
{user}
events {{
    worker_connections 1024;
}}

http {{
    access_log off;
    default_type text/plain;
    client_body_temp_path {directory}/temp/body;
    proxy_temp_path {directory}/temp/proxy;
    fastcgi_temp_path {directory}/temp/fastcgi;
    uwsgi_temp_path {directory}/temp/uwsgi;
    scgi_temp_path {directory}/temp/scgi;

    ssl_protocols TLSv1 TLSv1.1 TLSv1.2 TLSv1.3;
    ssl_ciphers DEFAULT:@SECLEVEL=0;
    ssl_prefer_server_ciphers off;
    ssl_session_cache off;
    ssl_session_tickets off;

{servers}
}}
"""

_START_TIMEOUT = 10.0
_STOP_TIMEOUT = 10.0


@dataclass(frozen=True)
class NginxSite:
    """One nginx ``server`` block: a certificate served on a loopback address.

    ``serve_chain`` False sends only the leaf, without the intermediate.
    ``ocsp_response`` is a DER OCSP response file stapled to every handshake.
    ``reject_handshake`` True makes this site the default server of ``address``, and
    it rejects every SNI name except those of the other sites on that address. Such
    a site needs no certificate.
    """

    address: str
    server_name: str
    certificate: IssuedCertificate | None
    serve_chain: bool = True
    protocols: tuple[str, ...] = ALL_PROTOCOLS
    http2: bool = False
    ocsp_response: Path | None = None
    reject_handshake: bool = False


class NginxServer:
    """nginx serving ``sites`` on ``port`` from a configuration in ``directory``.

    Use it as a context manager, or call :meth:`start` and :meth:`stop`. Runs as
    the current user. As root the worker also runs as root, so it can read the
    keys in ``directory``.
    """

    def __init__(self, directory: Path, port: int, sites: list[NginxSite]) -> None:
        if not sites:
            raise ValueError("NginxServer needs at least one site")
        self.directory = Path(directory)
        self.port = port
        self.sites = list(sites)
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> NginxServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def error_log(self) -> Path:
        """nginx's error log, useful when a start fails."""
        return self.directory / "error.log"

    def start(self) -> None:
        """Write the configuration, start nginx and wait until it listens.

        Raises TlsTestBedError when nginx is missing, exits early or does not write
        its pid file within 10 seconds. The message contains the end of the error
        log, so a port already in use shows as ``Address already in use``.
        """
        executable = shutil.which("nginx") or "/usr/sbin/nginx"
        if not Path(executable).exists():
            raise TlsTestBedError("nginx was not found: install the Debian package nginx-light")

        self.directory.mkdir(parents=True, exist_ok=True)
        (self.directory / "temp").mkdir(exist_ok=True)
        pid_file = self.directory / "nginx.pid"
        pid_file.unlink(missing_ok=True)
        self.error_log.write_text("")
        openssl_config = self.directory / "openssl.cnf"
        openssl_config.write_text(_OPENSSL_CONFIG)
        config_file = self.directory / "nginx.conf"
        config_file.write_text(self._render_config())

        environment = dict(os.environ, OPENSSL_CONF=str(openssl_config))
        command = [
            executable,
            "-p",
            str(self.directory),
            "-c",
            str(config_file),
            "-e",
            str(self.error_log),
        ]
        logger.debug("starting %s", " ".join(command))
        self._process = subprocess.Popen(
            command,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

        # nginx binds every listening socket before it writes the pid file.
        deadline = time.monotonic() + _START_TIMEOUT
        while not pid_file.exists():
            if self._process.poll() is not None:
                self._process = None
                raise TlsTestBedError(
                    f"nginx exited during start-up on port {self.port}: {self._log_tail()}"
                )
            if time.monotonic() > deadline:
                self.stop()
                raise TlsTestBedError(
                    f"nginx did not start within {_START_TIMEOUT:.0f} s: {self._log_tail()}"
                )
            time.sleep(0.05)
        logger.info("nginx serves %d sites on port %d", len(self.sites), self.port)

    def stop(self) -> None:
        """Stop nginx (SIGTERM, then SIGKILL after 10 seconds). Safe to call twice."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            logger.warning("nginx did not stop within %.0f s; killing it", _STOP_TIMEOUT)
            process.kill()
            process.wait()

    def _render_config(self) -> str:
        user = "user root root;" if os.geteuid() == 0 else ""
        servers = "\n".join(self._render_server(site) for site in self.sites)
        return _MAIN_CONFIG.format(directory=self.directory, user=user, servers=servers)

    def _render_server(self, site: NginxSite) -> str:
        listen = f"{site.address}:{self.port} ssl"
        if site.http2:
            listen += " http2"
        lines = [f"        listen {listen}{' default_server' if site.reject_handshake else ''};"]
        if site.reject_handshake:
            lines.append("        ssl_reject_handshake on;")
        else:
            certificate = site.certificate
            if certificate is None:
                raise ValueError(f"site {site.server_name!r} needs a certificate")
            served = certificate.chain_file if site.serve_chain else certificate.cert_file
            lines += [
                f"        server_name {site.server_name};",
                f"        ssl_certificate {served};",
                f"        ssl_certificate_key {certificate.key_file};",
                f"        ssl_protocols {' '.join(site.protocols)};",
            ]
            if site.ocsp_response is not None:
                lines += [
                    "        ssl_stapling on;",
                    f"        ssl_stapling_file {site.ocsp_response};",
                ]
            lines.append(f'        location / {{ return 200 "{site.server_name}\\n"; }}')
        return "    server {\n" + "\n".join(lines) + "\n    }\n"

    def _log_tail(self, limit: int = 2000) -> str:
        try:
            text = self.error_log.read_text(errors="replace").strip()
        except OSError as error:
            return f"(error log unreadable: {error})"
        return text[-limit:] or "(error log empty)"
