"""pytest fixtures for the DNS part of the local test bed.

- ``dns_testbed`` (session): a ``TestBed`` with Knot serving about 2,000
  generated domains, the hard cases and the real-world corpus. Its
  ``nameserver`` is ``127.0.0.1:PORT``; ``manifest`` contains the ground truth.
- ``responder`` (session): the purpose-built responder in front of Knot
  (``dnsscience.testbed.responder.Responder``) with the default rules.
- ``unbound`` (session): unbound in front of Knot and the responder
  (``dnsscience.testbed.unbound.UnboundServer``).
- ``dns_testbed_ipv6``: the same bed, or a skip where ``::1`` is missing.
- ``dns_query``: ``dns_query(nameserver, name, rrtype, tcp=False, timeout=2.0)``
  sends one query with dnspython to an explicit ``host:port`` and returns the
  ``dns.message.Message``; it raises ``dns.exception.Timeout`` without a response.

For the whole session ``DNSSCIENCE_NAMESERVERS`` names Knot's address, so code
that reads it never falls back to the system resolver. Tests still pass
nameservers explicitly.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import dns.flags
import dns.message
import dns.query
import pytest

from dnsscience.testbed import TestBed

TESTBED_DOMAINS = 2_000
TESTBED_SEED = 20_240_601


@pytest.fixture(scope="session")
def dns_testbed() -> Iterator[TestBed]:
    """Knot with generated domains, hard cases and corpus, for the whole session."""
    bed = TestBed(domains=TESTBED_DOMAINS, seed=TESTBED_SEED)
    bed.start()
    try:
        yield bed
    finally:
        bed.stop()


@pytest.fixture(scope="session", autouse=True)
def _testbed_nameservers(dns_testbed: TestBed) -> Iterator[None]:
    """Point ``DNSSCIENCE_NAMESERVERS`` at the test bed for the whole session."""
    previous = os.environ.get("DNSSCIENCE_NAMESERVERS")
    os.environ["DNSSCIENCE_NAMESERVERS"] = dns_testbed.nameserver
    yield
    if previous is None:
        os.environ.pop("DNSSCIENCE_NAMESERVERS", None)
    else:
        os.environ["DNSSCIENCE_NAMESERVERS"] = previous


@pytest.fixture(scope="session")
def responder(dns_testbed: TestBed):
    """The responder with the default rules, forwarding other queries to Knot."""
    return dns_testbed.start_responder()


@pytest.fixture(scope="session")
def unbound(dns_testbed: TestBed):
    """unbound with stub zones to Knot and to the responder."""
    return dns_testbed.start_unbound()


@pytest.fixture
def dns_testbed_ipv6(dns_testbed: TestBed) -> TestBed:
    """The session's test bed; skips the test where the host has no ``::1``."""
    if dns_testbed.nameserver_ipv6 is None:
        pytest.skip("the host has no IPv6 loopback address (::1)")
    return dns_testbed


def _split_nameserver(nameserver: str) -> tuple[str, int]:
    host, _, port = nameserver.rpartition(":")
    return host.strip("[]"), int(port)


def query_nameserver(
    nameserver: str,
    name: str,
    rrtype: str = "A",
    tcp: bool = False,
    timeout: float = 2.0,
    recursion_desired: bool = True,
    payload: int = 1232,
) -> dns.message.Message:
    """Send one query to ``nameserver`` ("host:port") and return the response.

    The query carries EDNS with ``payload`` as the UDP buffer size (1232 bytes by
    default), so a larger answer comes back truncated over UDP.
    """
    host, port = _split_nameserver(nameserver)
    query = dns.message.make_query(name, rrtype, use_edns=0, payload=payload)
    if not recursion_desired:
        query.flags &= ~dns.flags.RD
    if tcp:
        return dns.query.tcp(query, host, port=port, timeout=timeout)
    return dns.query.udp(query, host, port=port, timeout=timeout, ignore_trailing=True)


@pytest.fixture(scope="session")
def dns_query():
    """``query_nameserver``: one dnspython query to an explicit nameserver."""
    return query_nameserver
