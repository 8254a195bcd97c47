"""Tests of the purpose-built responder: rules, delays and forwarding to Knot."""

from __future__ import annotations

import socket
import time
from concurrent.futures import ThreadPoolExecutor

import dns.exception
import dns.flags
import dns.rcode
import dns.rdatatype
import pytest

from dnsscience.testbed.responder import Responder, parse_rules


def test_responder_forwards_to_knot(responder, dns_query) -> None:
    response = dns_query(responder.nameserver, "gmail.com", "MX")

    assert response.rcode() == dns.rcode.NOERROR
    assert len(response.answer[0]) == 5


def test_responder_forwards_tcp_after_truncation(responder, dns_query) -> None:
    over_udp = dns_query(responder.nameserver, "txt-large.hard.test", "TXT")
    over_tcp = dns_query(responder.nameserver, "txt-large.hard.test", "TXT", tcp=True)

    assert over_udp.flags & dns.flags.TC
    assert len(over_tcp.answer[0]) == 41


@pytest.mark.parametrize("name", ["timeout.responder.test", "anything.below.timeout.test"])
def test_responder_timeout_rule(responder, dns_query, name: str) -> None:
    with pytest.raises(dns.exception.Timeout):
        dns_query(responder.nameserver, name, "A", timeout=0.5)


@pytest.mark.parametrize(
    ("name", "rcode"),
    [
        ("servfail.responder.test", dns.rcode.SERVFAIL),
        ("refused.responder.test", dns.rcode.REFUSED),
        ("ent.responder.test", dns.rcode.NXDOMAIN),
        ("missing.responder.test", dns.rcode.NXDOMAIN),
    ],
)
def test_responder_error_rules(responder, dns_query, name: str, rcode: int) -> None:
    assert dns_query(responder.nameserver, name, "A").rcode() == rcode


def test_responder_empty_non_terminal_child(responder, dns_query) -> None:
    response = dns_query(responder.nameserver, "child.ent.responder.test", "TXT")

    assert response.rcode() == dns.rcode.NOERROR
    assert response.answer[0][0].strings == (b"child of an empty non-terminal",)


def test_responder_cname_beside_data(responder, dns_query) -> None:
    response = dns_query(responder.nameserver, "cname-and-txt.responder.test", "TXT")
    rrtypes = sorted(rrset.rdtype for rrset in response.answer)
    owners = {rrset.name.to_text() for rrset in response.answer}

    assert rrtypes == sorted([dns.rdatatype.CNAME, dns.rdatatype.TXT])
    assert owners == {"cname-and-txt.responder.test."}


def test_responder_rule_delay(responder, dns_query) -> None:
    started = time.monotonic()
    response = dns_query(responder.nameserver, "slow.responder.test", "A")
    elapsed = time.monotonic() - started

    assert response.answer
    assert 0.35 <= elapsed < 1.5


def test_responder_proxy_delay(dns_testbed, dns_query, tmp_path) -> None:
    with Responder(tmp_path, upstream=dns_testbed.nameserver, delay_ms=150) as delayed:
        started = time.monotonic()
        response = dns_query(delayed.nameserver, "gmail.com", "MX")
        elapsed = time.monotonic() - started

        assert response.answer
        assert 0.14 <= elapsed < 1.0


def test_responder_concurrent_delays_overlap(dns_testbed, dns_query, tmp_path) -> None:
    names = [f"{domain}" for domain in dns_testbed.domains[:200]]
    with Responder(tmp_path, upstream=dns_testbed.nameserver, delay_ms=200) as delayed:
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=50) as pool:
            responses = list(pool.map(lambda name: dns_query(delayed.nameserver, name, "A"), names))
        elapsed = time.monotonic() - started

    assert len(responses) == 200
    # 200 queries held 200 ms each take 40 s one after another; timers overlap them.
    assert elapsed < 5.0


def test_responder_ignores_malformed_query(responder, dns_query) -> None:
    host, port = responder.host, responder.port
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
        client.sendto(b"\x00\x01garbage", (host, port))

    assert dns_query(responder.nameserver, "gmail.com", "MX").answer


def test_responder_rules_reject_unknown_action() -> None:
    with pytest.raises(ValueError, match="explode"):
        parse_rules([{"name": "x.test", "action": "explode"}])


def test_responder_rules_require_records_for_answer() -> None:
    with pytest.raises(ValueError, match="no records"):
        parse_rules([{"name": "x.test", "action": "answer"}])
