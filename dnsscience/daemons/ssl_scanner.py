"""ssl_scanner: probes the TLS certificates of due domains and stores them in PostgreSQL.

A drop-in replacement for the original SSL Scanner: the same ``ssl_certificates``
rows and ``domains.last_ssl_scan`` stamps, with every attempt recorded, NULL for
absent CNs, and no verification during the handshake, so expired, self-signed and
mismatched certificates are collected too.

A domain is due when it was never scanned, was last scanned over
``DNSSCIENCE_RESCAN_DAYS`` (7) days ago, or failed transiently and its retry time
(1 hour, doubling up to 1 day) has come. Every port of ``DNSSCIENCE_TLS_PORTS``
is probed. ``SSL_SCANNER_WORKERS`` (500) handshakes run at once; targets still
waiting for their TCP connect do not count against it, only against
``DNSSCIENCE_TLS_CONNECTIONS`` (4 x the workers).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from dnsscience.daemons.runtime import main_entry
from dnsscience.daemons.tls_worker import TlsWorker
from dnsscience.store import tls as tls_store

__all__ = ["DAEMON_NAME", "ScannerWorker", "main"]

DAEMON_NAME = "dnsscience_ssl_scanner"


class ScannerWorker(TlsWorker):
    """Claims domains due for a TLS scan and probes every configured port."""

    schema_scope = "ssl_scanner"
    daemon_label = "ssl_scanner"

    def __init__(self, settings: Any, logger: logging.Logger) -> None:
        super().__init__(settings, logger)
        self.ports = tuple(settings.tls_ports)

    def claim(self, connection: Any) -> list[Any]:
        return tls_store.claim_due_for_scan(
            connection,
            limit=int(self.settings.batch_size),
            rescan_days=int(self.settings.rescan_days),
            instance=self.instance,
            lease_seconds=int(self.settings.lease_seconds),
        )

    def ports_for(self, claim: Any) -> Sequence[int]:
        return self.ports


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``dnsscience-ssl-scanner`` and ``daemons/ssl_scanner_daemon.py``."""
    return main_entry(
        prog="dnsscience-ssl-scanner",
        description="Probe the TLS certificates of due domains and store them in PostgreSQL.",
        daemon_name=DAEMON_NAME,
        make_worker=ScannerWorker,
        argv=argv,
    )


if __name__ == "__main__":
    raise SystemExit(main())
