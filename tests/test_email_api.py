"""Tests of check_email and check_email_many against the local Knot test bed."""

from __future__ import annotations

import json

import pytest

import dnsscience
from dnsscience.email import check_email, check_email_many, normalize_domain


def _hard(name: str) -> str:
    return f"{name}.hard.test"


@pytest.fixture(scope="module")
def nameservers(dns_testbed):
    return [dns_testbed.nameserver]


@pytest.fixture(scope="module")
def hard_results(dns_testbed, nameservers):
    """Results of every hard case, checked once for the module."""
    names = [name for names in dns_testbed.manifest["hard_cases"].values() for name in names]
    return {result.domain: result for result in check_email_many(names, nameservers=nameservers)}


def test_normalize_domain_forms():
    assert normalize_domain("Example.COM.") == "example.com"
    assert normalize_domain("bücher.example") == "xn--bcher-kva.example"


@pytest.mark.parametrize(
    "bad",
    ["", ".", "a" * 64 + ".example", ("a" * 60 + ".") * 5 + "com", "exa mple.com", "a..b"],
)
def test_invalid_name_raises_value_error(bad, nameservers):
    with pytest.raises(ValueError) as caught:
        check_email(bad, nameservers=nameservers)
    assert isinstance(caught.value, dnsscience.DnsScienceError)


def test_invalid_name_in_batch_is_result(nameservers):
    results = list(check_email_many(["exa mple.com", "mx-null.hard.test"],
                                    nameservers=nameservers))
    assert len(results) == 2
    by_error = {bool(result.error): result for result in results}
    assert "exa mple.com" in by_error[True].error
    assert by_error[False].domain == "mx-null.hard.test"


def test_generated_domains_match_truth(dns_testbed, nameservers):
    truth = dns_testbed.manifest["truth"]
    sample = [name for name in dns_testbed.domains if truth[name]["source"] == "generated"][:400]
    results = {r.domain: r for r in check_email_many(sample, nameservers=nameservers)}
    assert set(results) == set(sample)
    for name in sample:
        expected = truth[name]
        result = results[name]
        assert result.complete, (name, result.lookups)
        # The manifest counts a null MX as an MX record; has_mx counts only real hosts.
        expected_has_mx = expected["has_mx"] and not expected["null_mx"]
        assert result.has_mx == expected_has_mx, name
        assert result.mx_records == expected["mx_hosts"], name
        assert result.has_spf == bool(expected["spf_records"]), name
        assert result.spf_valid == expected["spf_valid"], name
        assert result.dmarc_policy == expected["dmarc_policy"], name
        assert sorted(result.dkim_selectors) == sorted(
            expected["dkim_selectors"] + expected["dkim_revoked_selectors"]
        ), name
        assert result.has_mta_sts == expected["has_mta_sts"], name
        assert result.has_tls_rpt == expected["has_tls_rpt"], name
        assert result.has_bimi == expected["has_bimi"], name


def test_two_spf_records_invalid(hard_results):
    result = hard_results[_hard("spf-two-records")]
    assert result.has_spf
    assert not result.spf_valid
    assert len(result.spf_records) == 2
    assert result.spf_result == "permerror"


def test_spf_split_strings_joined(hard_results):
    result = hard_results[_hard("spf-split-strings")]
    assert result.has_spf
    assert '" "' not in result.spf_record
    assert result.spf_valid


def test_spf_uppercase_version_accepted(hard_results):
    result = hard_results[_hard("spf-uppercase-version")]
    assert result.has_spf
    assert result.spf_valid


def test_spf10_is_not_spf(hard_results):
    result = hard_results[_hard("spf-version-spf10")]
    assert result.spf_records == [result.spf_record]
    assert not result.spf_record.lower().startswith("v=spf10")


def test_plus_all_flagged(hard_results):
    result = hard_results[_hard("spf-plus-all")]
    assert result.spf_all == "+all"
    assert any("plus_all" in finding.code for finding in result.findings)


def test_too_many_lookups_permerror(hard_results):
    result = hard_results[_hard("spf-too-many-lookups")]
    assert result.spf_lookup_count > 10
    assert result.spf_result == "permerror"
    assert not result.spf_valid


def test_null_mx_accepts_no_mail(hard_results):
    result = hard_results[_hard("mx-null")]
    assert result.null_mx
    assert not result.has_mx
    assert result.mx_records == []
    assert result.mx_count == 0


def test_mx_sorted_by_preference(hard_results):
    result = hard_results[_hard("mx-preference-order")]
    preferences = [host.preference for host in result.mx]
    assert preferences == sorted(preferences)
    assert result.mx_records == [host.exchange for host in result.mx]


@pytest.mark.parametrize("case", ["dmarc-sp-before-p", "dmarc-rua-contains-p"])
def test_dmarc_policy_is_p_tag(case, dns_testbed, hard_results):
    result = hard_results[_hard(case)]
    assert result.dmarc_policy == dns_testbed.manifest["truth"][_hard(case)]["dmarc_policy"]


def test_dmarc_rua_without_p_is_none(hard_results):
    result = hard_results[_hard("dmarc-rua-without-p")]
    assert result.dmarc_policy == "none"
    assert result.findings


def test_two_dmarc_records_no_policy(hard_results):
    result = hard_results[_hard("dmarc-two-records")]
    assert result.has_dmarc
    assert result.dmarc_policy is None
    assert result.dmarc_record is None


def test_dmarc_behind_cname(dns_testbed, hard_results):
    name = _hard("dmarc-cname")
    result = hard_results[name]
    assert result.dmarc_policy is not None
    assert result.dmarc_policy == dns_testbed.manifest["truth"][name]["dmarc_policy"]


def test_dmarc_cname_into_other_zone(dns_testbed, unbound):
    # An authoritative server returns only the CNAME when its target lies in another
    # zone; the recursive resolver in front of the test bed follows it.
    name = _hard("dmarc-cname-other-zone")
    result = check_email(name, nameservers=[unbound.nameserver])
    assert result.dmarc_policy == dns_testbed.manifest["truth"][name]["dmarc_policy"]
    assert result.dmarc_policy is not None


def test_dkim_wildcard_is_not_key(dns_testbed, hard_results):
    name = _hard("dkim-wildcard")
    result = hard_results[name]
    assert result.dkim_selectors == dns_testbed.manifest["truth"][name]["dkim_selectors"]
    assert any("wildcard" in finding.message for finding in result.findings)


def test_dkim_revoked_key_reported(dns_testbed, hard_results):
    name = _hard("dkim-revoked")
    result = hard_results[name]
    revoked = {key.selector for key in result.dkim if key.revoked}
    assert revoked == set(dns_testbed.manifest["truth"][name]["dkim_revoked_selectors"])
    valid = {key.selector for key in result.dkim if not key.revoked}
    assert valid == set(dns_testbed.manifest["truth"][name]["dkim_selectors"])
    assert any(finding.code == "dkim.revoked_key" for finding in result.findings)


def test_dkim_split_key_has_size(hard_results):
    result = hard_results[_hard("dkim-split-strings")]
    assert result.has_dkim
    assert all(key.key_bits for key in result.dkim if key.key_type == "rsa")


def test_nxdomain_domain_is_complete(hard_results):
    result = hard_results[_hard("nxdomain-1")]
    assert result.complete
    assert result.lookups["mx"] == "nxdomain"
    assert not result.has_mx


def test_timeout_is_transient(responder):
    result = check_email("timeout.responder.test", nameservers=[responder.nameserver],
                         timeout=0.6)
    assert not result.complete
    assert result.lookups["mx"] == "timeout"
    assert "mx" in result.transient_lookups


def test_to_dict_is_json_ready(hard_results):
    result = hard_results[_hard("spf-plus-all")]
    data = json.loads(json.dumps(result.to_dict()))
    assert data["domain"] == result.domain
    assert data["checked_at"].endswith("Z")


def test_progress_reports_every_result(dns_testbed, nameservers):
    calls = []
    names = dns_testbed.domains[:50]
    results = list(check_email_many(names, nameservers=nameservers,
                                    progress=lambda done, total: calls.append((done, total))))
    assert len(results) == 50
    assert calls[0] == (0, 50)
    assert calls[-1] == (50, 50)


def test_bad_arguments_raise_at_call(nameservers):
    with pytest.raises(ValueError):
        check_email_many(["example.test"], nameservers=nameservers, timeout=0)
    with pytest.raises(ValueError):
        check_email_many(["example.test"], nameservers=nameservers, concurrency=0)
    for name in ("max_inflight_per_nameserver", "min_inflight_per_nameserver", "tries"):
        for value in (0, 2.5, True):
            with pytest.raises(ValueError, match=name):
                check_email_many(["example.test"], nameservers=nameservers, **{name: value})


def test_numpy_integers_accepted(dns_testbed, nameservers):
    numpy = pytest.importorskip("numpy")
    results = list(check_email_many(["example.test"], nameservers=nameservers,
                                    concurrency=numpy.int64(4)))
    assert len(results) == 1


def test_fixed_in_flight_limit(dns_testbed, nameservers):
    truth = dns_testbed.manifest["truth"]
    names = [name for name in dns_testbed.domains if truth[name]["source"] == "generated"][:200]
    adaptive = {r.domain: r.to_dict() for r in check_email_many(names, nameservers=nameservers)}
    fixed = {
        r.domain: r.to_dict()
        for r in check_email_many(
            names,
            nameservers=nameservers,
            max_inflight_per_nameserver=4,
            min_inflight_per_nameserver=4,
        )
    }
    assert set(fixed) == set(adaptive)
    for name, result in fixed.items():
        assert result["complete"], name
        assert result["mx_records"] == adaptive[name]["mx_records"], name
        assert result["spf_record"] == adaptive[name]["spf_record"], name
        assert result["dkim_selectors"] == adaptive[name]["dkim_selectors"], name


def test_corpus_domains_complete(dns_testbed, nameservers):
    # Some published SPF records need UDP answers between 512 and 1232 octets.
    names = dns_testbed.manifest["corpus_domains"]
    results = list(check_email_many(names, nameservers=nameservers))
    incomplete = {r.domain: r.lookups for r in results if not r.complete}
    assert len(results) == len(names)
    assert incomplete == {}


def test_udp_answer_over_512_octets(nameservers):
    from dnsscience import _core

    answer = _core.dns_query("icloud.com.spf.mail.icloud.com", "TXT", nameservers)
    assert answer["status"] == "data"
    assert not answer["truncated_retried_over_tcp"]
    assert sum(len(text) for text in answer["records"][0]["strings"]) > 500
