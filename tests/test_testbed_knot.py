"""Tests of the Knot DNS server of the test bed: generated data, hard cases and corpus."""

from __future__ import annotations

import random

import dns.flags
import dns.rcode
import dns.rdatatype
import pytest

from dnsscience.testbed.truth import is_spf_record


def _txt_records(response) -> list[str]:
    texts = []
    for rrset in response.answer:
        if rrset.rdtype == dns.rdatatype.TXT:
            texts.extend(b"".join(rdata.strings).decode() for rdata in rrset)
    return texts


def _sample(dns_testbed, source: str, count: int) -> list[str]:
    truth = dns_testbed.manifest["truth"]
    domains = [domain for domain in dns_testbed.domains if truth[domain]["source"] == source]
    return random.Random(3).sample(domains, min(count, len(domains)))


def test_knot_serves_every_zone(dns_testbed, dns_query) -> None:
    for zone in dns_testbed.zones:
        response = dns_query(dns_testbed.nameserver, zone, "SOA")
        assert response.rcode() == dns.rcode.NOERROR, zone
        assert response.flags & dns.flags.AA, zone


def test_knot_generated_mx_matches_truth(dns_testbed, dns_query) -> None:
    truth = dns_testbed.manifest["truth"]
    for domain in _sample(dns_testbed, "generated", 150):
        entry = truth[domain]
        response = dns_query(dns_testbed.nameserver, domain, "MX")
        if entry["nxdomain"]:
            assert response.rcode() == dns.rcode.NXDOMAIN, domain
            continue
        assert response.rcode() == dns.rcode.NOERROR, domain
        records = [rdata for rrset in response.answer for rdata in rrset]
        ordered = sorted(records, key=lambda rdata: rdata.preference)
        hosts = [rdata.exchange.to_text(omit_final_dot=True) for rdata in ordered]
        assert bool(records) == entry["has_mx"], domain
        assert hosts == entry["mx_hosts"], domain


def test_knot_generated_spf_matches_truth(dns_testbed, dns_query) -> None:
    truth = dns_testbed.manifest["truth"]
    for domain in _sample(dns_testbed, "generated", 150):
        if truth[domain]["nxdomain"]:
            continue
        response = dns_query(dns_testbed.nameserver, domain, "TXT")
        spf = [text for text in _txt_records(response) if is_spf_record(text)]
        assert spf == truth[domain]["spf_records"], domain


def test_knot_generated_dmarc_and_dkim(dns_testbed, dns_query) -> None:
    truth = dns_testbed.manifest["truth"]
    for domain in _sample(dns_testbed, "generated", 100):
        entry = truth[domain]
        if entry["nxdomain"]:
            continue
        dmarc = _txt_records(dns_query(dns_testbed.nameserver, f"_dmarc.{domain}", "TXT"))
        if entry["dmarc_policy"]:
            assert dmarc == [f"{record}" for record in entry["dmarc_records"]], domain
            assert f"p={entry['dmarc_policy']}" in dmarc[0], domain
        else:
            assert dmarc == [], domain
        for selector in entry["dkim_selectors"]:
            keys = _txt_records(
                dns_query(dns_testbed.nameserver, f"{selector}._domainkey.{domain}", "TXT")
            )
            assert len(keys) == 1, (domain, selector)
            assert keys[0].startswith("v=DKIM1; k="), (domain, selector)


def test_knot_nxdomain_hard_cases(dns_testbed, dns_query) -> None:
    for domain in dns_testbed.manifest["hard_cases"]["nxdomain"]:
        response = dns_query(dns_testbed.nameserver, domain, "A")
        assert response.rcode() == dns.rcode.NXDOMAIN, domain


@pytest.mark.parametrize("domain", ["txt-large.hard.test", "spf-long-record.hard.test"])
def test_knot_large_answer_truncated_over_udp(dns_testbed, dns_query, domain: str) -> None:
    over_udp = dns_query(dns_testbed.nameserver, domain, "TXT")
    over_tcp = dns_query(dns_testbed.nameserver, domain, "TXT", tcp=True)

    assert over_udp.flags & dns.flags.TC
    assert not over_tcp.flags & dns.flags.TC
    assert len(over_tcp.to_wire()) > 1232
    spf = [text for text in _txt_records(over_tcp) if is_spf_record(text)]
    assert spf == dns_testbed.manifest["truth"][domain]["spf_records"]


def test_knot_two_spf_records(dns_testbed, dns_query) -> None:
    response = dns_query(dns_testbed.nameserver, "spf-two-records.hard.test", "TXT")
    spf = [text for text in _txt_records(response) if is_spf_record(text)]
    assert len(spf) == 2


def test_knot_split_strings_kept(dns_testbed, dns_query) -> None:
    response = dns_query(dns_testbed.nameserver, "spf-split-strings.hard.test", "TXT")
    strings = [rdata.strings for rrset in response.answer for rdata in rrset]
    assert strings == [(b"v=spf1 ip4:192.0.2.0/24 ", b"include:_spf.postbox.test -all")]

    key = dns_query(dns_testbed.nameserver, "default._domainkey.dkim-split-strings.hard.test", "TXT")
    key_strings = [rdata.strings for rrset in key.answer for rdata in rrset]
    assert len(key_strings) == 1
    assert len(key_strings[0]) > 3


def test_knot_null_mx(dns_testbed, dns_query) -> None:
    response = dns_query(dns_testbed.nameserver, "mx-null.hard.test", "MX")
    records = [rdata for rrset in response.answer for rdata in rrset]

    assert len(records) == 1
    assert records[0].preference == 0
    assert records[0].exchange.to_text() == "."


def test_knot_dkim_wildcard_answers_any_selector(dns_testbed, dns_query) -> None:
    domain = "dkim-wildcard.hard.test"
    wildcard = _txt_records(dns_query(dns_testbed.nameserver, f"selector1._domainkey.{domain}", "TXT"))
    real = _txt_records(dns_query(dns_testbed.nameserver, f"google._domainkey.{domain}", "TXT"))

    assert wildcard == ["this wildcard answers every selector"]
    assert real[0].startswith("v=DKIM1; k=rsa; p=")


def test_knot_revoked_dkim_key(dns_testbed, dns_query) -> None:
    name = "selector1._domainkey.dkim-revoked.hard.test"
    assert _txt_records(dns_query(dns_testbed.nameserver, name, "TXT")) == ["v=DKIM1; k=rsa; p="]


def test_knot_dmarc_cname_other_zone(dns_testbed, dns_query) -> None:
    name = "_dmarc.dmarc-cname-other-zone.hard.test"
    response = dns_query(dns_testbed.nameserver, name, "TXT")
    rrtypes = [rrset.rdtype for rrset in response.answer]

    # An authoritative server does not follow a CNAME out of its zone.
    assert rrtypes == [dns.rdatatype.CNAME]
    target = response.answer[0][0].target.to_text(omit_final_dot=True)
    assert _txt_records(dns_query(dns_testbed.nameserver, target, "TXT")) == ["v=DMARC1; p=reject"]


def test_knot_dmarc_cname_same_zone(dns_testbed, dns_query) -> None:
    response = dns_query(dns_testbed.nameserver, "_dmarc.dmarc-cname.hard.test", "TXT")
    rrtypes = [rrset.rdtype for rrset in response.answer]

    assert rrtypes == [dns.rdatatype.CNAME, dns.rdatatype.TXT]
    assert _txt_records(response) == ["v=DMARC1; p=quarantine"]


def test_knot_corpus_records(dns_testbed, dns_query) -> None:
    gmail_mx = dns_query(dns_testbed.nameserver, "gmail.com", "MX")
    hosts = sorted((rdata.preference, rdata.exchange.to_text()) for rdata in gmail_mx.answer[0])
    assert hosts[0] == (5, "gmail-smtp-in.l.google.com.")

    netblocks = _txt_records(dns_query(dns_testbed.nameserver, "_spf.google.com", "TXT"))
    assert netblocks[0].startswith("v=spf1 include:_netblocks.google.com")

    sts = _txt_records(dns_query(dns_testbed.nameserver, "_mta-sts.gmail.com", "TXT"))
    assert sts[0].startswith("v=STSv1; id=")

    address = dns_query(dns_testbed.nameserver, "gmail-smtp-in.l.google.com", "A")
    assert address.answer, "MX hosts of the corpus resolve to an address"


def test_knot_corpus_domains_resolve(dns_testbed, dns_query) -> None:
    for domain in dns_testbed.manifest["corpus_domains"]:
        response = dns_query(dns_testbed.nameserver, domain, "MX")
        assert response.rcode() == dns.rcode.NOERROR, domain
        assert response.answer, domain


def test_knot_answers_over_ipv6(dns_testbed_ipv6, dns_query) -> None:
    response = dns_query(dns_testbed_ipv6.nameserver_ipv6, "gmail.com", "MX")
    assert response.rcode() == dns.rcode.NOERROR
    assert response.answer
