"""ssl_monitord: rescans certificates close to expiry daily and maintains TLS alerts.

A drop-in replacement for the original SSL Monitor (daemon name
``dnsscience_ssl_monitord``). It claims active domains with an
``ssl_certificates`` row that expires within 30 days, expired ones included, once
24 hours have passed since their last scan. It probes the ports of those rows and
stores the results like the scanner. The store raises, refreshes and resolves the
rows of ``tls_alerts`` (expiring, expired, untrusted, hostname_mismatch). Each
rescanned certificate gets an INFO line, and a WARNING too when it expires within
30 days.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

from dnsscience.daemons.runtime import main_entry
from dnsscience.daemons.tls_worker import BatchCounts, TlsWorker
from dnsscience.store import tls as tls_store

__all__ = ["DAEMON_NAME", "EXPIRING_WITHIN_DAYS", "MonitorWorker", "RECHECK_HOURS", "main"]

DAEMON_NAME = "dnsscience_ssl_monitord"
#: Certificates expiring within this many days are rescanned...
EXPIRING_WITHIN_DAYS = 30
#: ...once this many hours have passed since the domain's last scan.
RECHECK_HOURS = 24


class MonitorWorker(TlsWorker):
    """Claims domains with certificates close to expiry and rescans those ports."""

    schema_scope = "ssl_monitord"
    daemon_label = "ssl_monitord"

    def claim(self, connection: Any) -> list[Any]:
        return tls_store.claim_expiring(
            connection,
            limit=int(self.settings.batch_size),
            within_days=EXPIRING_WITHIN_DAYS,
            recheck_hours=RECHECK_HOURS,
            instance=self.instance,
            lease_seconds=int(self.settings.lease_seconds),
        )

    def ports_for(self, claim: Any) -> Sequence[int]:
        return claim.ports or (443,)

    def report(self, counts: BatchCounts, elapsed: float, results: list[dict[str, Any]]) -> None:
        now = datetime.now(timezone.utc)
        for result in results:
            certificate = result.get("certificate")
            if not certificate:
                self.logger.info(
                    "SSL scan of %s:%s failed at %s: %s",
                    result["domain_name"],
                    result["port"],
                    (result.get("error") or {}).get("stage"),
                    (result.get("error") or {}).get("reason"),
                )
                continue
            not_after = datetime.fromisoformat(certificate["not_after"].replace("Z", "+00:00"))
            days = (not_after - now).total_seconds() / 86400
            self.logger.info(
                "SSL cert for %s:%s: expires in %.1f days, issuer: %s",
                result["domain_name"],
                result["port"],
                days,
                certificate.get("issuer_cn"),
            )
            if days < EXPIRING_WITHIN_DAYS:
                self.logger.warning(
                    "Certificate expiring soon: %s:%s (%.1f days)",
                    result["domain_name"],
                    result["port"],
                    days,
                )
        super().report(counts, elapsed, results)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``dnsscience-ssl-monitord`` and ``daemons/ssl_monitord.py``."""
    return main_entry(
        prog="dnsscience-ssl-monitord",
        description="Rescan certificates close to expiry daily and maintain TLS alerts.",
        daemon_name=DAEMON_NAME,
        make_worker=MonitorWorker,
        argv=argv,
    )


if __name__ == "__main__":
    raise SystemExit(main())
