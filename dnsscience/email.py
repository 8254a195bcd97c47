"""Check the email security of domains: MX, SPF, DMARC, DKIM, MTA-STS, TLS-RPT, BIMI."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from dnsscience import _core
from dnsscience._batch import (
    ProgressCallback,
    check_count,
    iterate_session,
    resolve_nameservers,
)
from dnsscience.results import EmailResult

__all__ = [
    "DEFAULT_DKIM_SELECTORS",
    "DEFAULT_INFLIGHT_PER_NAMESERVER",
    "DEFAULT_MIN_INFLIGHT_PER_NAMESERVER",
    "check_email",
    "check_email_many",
    "normalize_domain",
]

#: Selectors probed for DKIM keys when none are given.
DEFAULT_DKIM_SELECTORS = (
    "default", "google", "selector1", "selector2", "k1", "k2", "k3", "s1", "s2", "dkim",
    "mail", "smtp", "fm1", "fm2", "fm3", "protonmail", "protonmail2", "protonmail3",
    "mandrill", "zoho",
)  # fmt: skip


#: Default bounds of the queries in flight to one nameserver. The limit starts at the
#: minimum, grows while responses return with flat round trips and queries wait,
#: shrinks while round trips show queueing, and halves when a try times out. Against
#: the local Knot test bed on a 2-core machine a fixed 256 lost no response, while a
#: fixed 1000 overflowed the server's UDP receive buffer now and then. Against a server
#: 30 ms away, 1000 in flight was nearly twice as fast as 256.
DEFAULT_INFLIGHT_PER_NAMESERVER = 1000
DEFAULT_MIN_INFLIGHT_PER_NAMESERVER = 256


def normalize_domain(name: str) -> str:
    """Return ``name`` as a lowercase A-label name without the trailing dot.

    Unicode names become A-labels (IDNA 2008 with UTS #46 mapping). Raises
    :class:`~dnsscience.InvalidArgumentError` (a ``ValueError``) naming the value when
    it is empty, longer than 253 octets, has a label longer than 63 octets or contains
    characters a host name cannot contain.
    """
    if not isinstance(name, str):
        raise TypeError(f"domain name must be a str, not {type(name).__name__}")
    return _core.normalize_domain(name)


def _open_session(
    nameservers: Iterable[str] | str | None,
    timeout: float,
    tries: int,
    domain_timeout: float,
    dkim_selectors: Iterable[str] | None,
    concurrency: int,
    qps: float,
    max_inflight_per_nameserver: int,
    min_inflight_per_nameserver: int,
):
    if timeout <= 0:
        raise ValueError(f"timeout must be a positive number of seconds, not {timeout!r}")
    tries = check_count("tries", tries)
    concurrency = check_count("concurrency", concurrency)
    max_inflight = check_count("max_inflight_per_nameserver", max_inflight_per_nameserver)
    min_inflight = check_count("min_inflight_per_nameserver", min_inflight_per_nameserver)
    selectors = list(DEFAULT_DKIM_SELECTORS if dkim_selectors is None else dkim_selectors)
    return _core.email_session(
        nameservers=resolve_nameservers(nameservers),
        timeout=float(timeout),
        tries=int(tries),
        qps=float(qps),
        domain_timeout=float(domain_timeout),
        dkim_selectors=selectors,
        max_in_flight=int(concurrency),
        max_inflight_per_nameserver=max_inflight,
        min_inflight_per_nameserver=min_inflight,
    )


def check_email_many(
    domains: Iterable[str],
    *,
    nameservers: Iterable[str] | str | None = None,
    timeout: float = 2.0,
    tries: int = 3,
    domain_timeout: float = 10.0,
    dkim_selectors: Iterable[str] | None = None,
    concurrency: int = 500,
    qps: float = 0.0,
    max_inflight_per_nameserver: int = DEFAULT_INFLIGHT_PER_NAMESERVER,
    min_inflight_per_nameserver: int = DEFAULT_MIN_INFLIGHT_PER_NAMESERVER,
    progress: ProgressCallback | None = None,
) -> Iterator[EmailResult]:
    """Check many domains concurrently and yield each result as it completes.

    Results arrive in completion order, not input order. An invalid name yields a
    result whose ``error`` names the problem; it never aborts the batch.

    Args:
        domains: domain names; a trailing dot is dropped, case is folded and Unicode
            names become A-labels.
        nameservers: ``"ip:port"`` strings (IPv6 as ``"[addr]:port"``, port 53 when
            omitted). ``None`` means ``DNSSCIENCE_NAMESERVERS`` if set, else the system
            resolver.
        timeout: deadline of one DNS query in seconds, shared by its ``tries``.
        tries: how many times a query is sent before it times out.
        domain_timeout: deadline for all lookups of one domain, in seconds.
        dkim_selectors: selectors to probe; ``None`` means :data:`DEFAULT_DKIM_SELECTORS`.
        concurrency: how many domains are checked at once.
        qps: cap on DNS queries per second over the whole batch; 0 means no cap.
        max_inflight_per_nameserver: cap on queries in flight to one nameserver.
        min_inflight_per_nameserver: where that limit starts and its floor. It
            grows while responses return with round trips under twice the lowest
            seen and queries wait, shrinks by one per slower response, and halves
            when a try times out. A minimum above the maximum counts as the
            maximum, so the same value for both fixes the limit.
        progress: called as ``progress(done, total)`` from the calling thread.

    The DNS work runs in C++ with the GIL released. Ctrl-C (KeyboardInterrupt)
    stops the iteration within a second.
    """
    items = [str(domain) for domain in domains]
    # The session is opened here, not on the first next(), so bad arguments raise at
    # the call.
    session = _open_session(
        nameservers, timeout, tries, domain_timeout, dkim_selectors, concurrency, qps,
        max_inflight_per_nameserver, min_inflight_per_nameserver,
    )
    return iterate_session(session, items, EmailResult.from_json, progress)


def check_email(
    domain: str,
    *,
    nameservers: Iterable[str] | str | None = None,
    timeout: float = 2.0,
    dkim_selectors: Iterable[str] | None = None,
) -> EmailResult:
    """Check the email security of one domain.

    Raises :class:`~dnsscience.InvalidArgumentError` (also a ``ValueError``) when
    ``domain`` is not a valid name. DNS failures do not raise: they are recorded in
    the result's ``lookups`` and ``complete`` fields.
    """
    normalize_domain(domain)
    results = list(
        check_email_many(
            [domain], nameservers=nameservers, timeout=timeout, dkim_selectors=dkim_selectors
        )
    )
    return results[0]
