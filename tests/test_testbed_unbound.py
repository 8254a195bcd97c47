"""Tests of the recursive path: unbound in front of Knot and the responder."""

from __future__ import annotations

import time

import dns.exception
import dns.flags
import dns.rcode
import dns.rdatatype


def _txt_records(response) -> list[str]:
    return [
        b"".join(rdata.strings).decode()
        for rrset in response.answer
        if rrset.rdtype == dns.rdatatype.TXT
        for rdata in rrset
    ]


def test_unbound_follows_cname_into_other_zone(unbound, dns_query) -> None:
    response = dns_query(unbound.nameserver, "_dmarc.dmarc-cname-other-zone.hard.test", "TXT")
    rrtypes = [rrset.rdtype for rrset in response.answer]

    assert response.rcode() == dns.rcode.NOERROR
    assert rrtypes == [dns.rdatatype.CNAME, dns.rdatatype.TXT]
    assert _txt_records(response) == ["v=DMARC1; p=reject"]


def test_unbound_resolves_generated_domain(dns_testbed, unbound, dns_query) -> None:
    truth = dns_testbed.manifest["truth"]
    domain = next(
        name for name in dns_testbed.domains if truth[name]["source"] == "generated" and truth[name]["has_mx"]
    )
    response = dns_query(unbound.nameserver, domain, "MX")
    hosts = sorted((rdata.preference, rdata.exchange.to_text(omit_final_dot=True)) for rdata in response.answer[0])

    assert [host for _, host in hosts] == truth[domain]["mx_hosts"]


def test_unbound_delegation_times_out(unbound, dns_query) -> None:
    started = time.monotonic()
    try:
        response = dns_query(unbound.nameserver, "mail.timeout.test", "MX", timeout=3.0)
    except dns.exception.Timeout:
        rcode = None
    else:
        rcode = response.rcode()
    elapsed = time.monotonic() - started

    # unbound retries the silent server and then returns SERVFAIL, so a client
    # with a shorter deadline gets a timeout. Either way it takes seconds.
    assert rcode in (None, dns.rcode.SERVFAIL)
    assert elapsed >= 1.0


def test_unbound_passes_responder_servfail(unbound, dns_query) -> None:
    response = dns_query(unbound.nameserver, "servfail.responder.test", "A")
    assert response.rcode() == dns.rcode.SERVFAIL


def test_unbound_has_no_path_outside(unbound, dns_query) -> None:
    started = time.monotonic()
    response = dns_query(unbound.nameserver, "example.com.invalid", "A")

    assert response.rcode() == dns.rcode.SERVFAIL
    assert time.monotonic() - started < 2.0


def test_unbound_large_answer_over_tcp(unbound, dns_query) -> None:
    over_udp = dns_query(unbound.nameserver, "txt-large.hard.test", "TXT")
    over_tcp = dns_query(unbound.nameserver, "txt-large.hard.test", "TXT", tcp=True)

    assert over_udp.flags & dns.flags.TC
    assert len(over_tcp.answer[0]) == 41
