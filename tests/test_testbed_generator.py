"""Tests of the zone generator, the hard cases, the corpus and the manifest (no servers)."""

from __future__ import annotations

import json
from pathlib import Path

import dns.rdatatype
import dns.zone
import pytest

from dnsscience.testbed.corpus import load_corpus
from dnsscience.testbed.generator import DEFAULT_ZONES, generate
from dnsscience.testbed.hardcases import HARD_CASES
from dnsscience.testbed.truth import DEFAULT_DKIM_SELECTORS, is_spf_record


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory):
    return generate(tmp_path_factory.mktemp("generated"), domains=3_000, seed=11)


def test_generator_same_seed_same_zones(tmp_path: Path) -> None:
    first = generate(tmp_path / "first", domains=300, seed=5, corpus=False)
    second = generate(tmp_path / "second", domains=300, seed=5, corpus=False)
    other = generate(tmp_path / "other", domains=300, seed=6, corpus=False)

    assert first.domains == second.domains
    assert first.manifest["truth"] == second.manifest["truth"]
    assert first.domains != other.domains


def test_generator_rejects_negative_count(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="-1"):
        generate(tmp_path, domains=-1)


def test_generator_coverage_near_targets(generated) -> None:
    truth = generated.manifest["truth"]
    domains = [domain for domain in generated.domains if truth[domain]["source"] == "generated"]
    count = len(domains)

    def share(predicate) -> float:
        return sum(1 for domain in domains if predicate(truth[domain])) / count

    assert count == 3_000
    assert share(lambda entry: entry["has_mx"]) == pytest.approx(0.60 * 0.99, abs=0.04)
    assert share(lambda entry: entry["spf_records"]) == pytest.approx(0.55 * 0.99, abs=0.04)
    assert share(lambda entry: entry["dmarc_policy"]) == pytest.approx(0.37 * 0.99, abs=0.04)
    assert share(lambda entry: entry["dkim_selectors"]) == pytest.approx(0.28 * 0.99, abs=0.04)
    assert 0.01 < share(lambda entry: entry["has_mta_sts"]) < 0.08
    assert 0.005 < share(lambda entry: entry["has_tls_rpt"]) < 0.07
    assert 0.002 < share(lambda entry: entry["has_bimi"]) < 0.05
    assert 0.002 < share(lambda entry: entry["nxdomain"]) < 0.03


def test_generator_names_under_default_zones(generated) -> None:
    truth = generated.manifest["truth"]
    for domain in generated.domains:
        if truth[domain]["source"] != "generated":
            continue
        label, zone = domain.split(".", 1)
        assert zone in DEFAULT_ZONES
        assert label.rsplit("-", 1)[1].isdigit()


def test_generated_spf_within_lookup_limit(generated) -> None:
    truth = generated.manifest["truth"]
    for domain in generated.domains:
        entry = truth[domain]
        if entry["source"] == "generated" and entry["spf_records"]:
            assert entry["spf_valid"], (domain, entry["spf_error"])
            assert 0 <= entry["spf_lookups"] <= 10


def test_generated_dkim_selectors_from_default_list(generated) -> None:
    truth = generated.manifest["truth"]
    seen = set()
    for domain in generated.domains:
        seen.update(truth[domain]["dkim_selectors"])
    assert seen <= set(DEFAULT_DKIM_SELECTORS)
    assert {"default", "google", "selector1"} <= seen


@pytest.mark.parametrize("case", sorted(HARD_CASES))
def test_hard_case_truth(generated, case: str) -> None:
    domains = generated.manifest["hard_cases"][case]
    assert domains, case
    for domain in domains:
        assert domain.endswith(".hard.test")
        entry = generated.manifest["truth"][domain]
        assert entry["hard_case"] == case
        for key, expected in HARD_CASES[case].items():
            assert entry[key] == expected, (domain, key)


def test_manifest_file_matches_result(generated) -> None:
    on_disk = json.loads(generated.manifest_path.read_text())

    assert on_disk == generated.manifest
    assert on_disk["format"] == 1
    assert on_disk["seed"] == 11
    assert set(on_disk["truth"]) == set(on_disk["domains"])
    assert set(on_disk["zones"]) == set(generated.zone_files)


def test_zone_files_parse_with_dnspython(generated) -> None:
    for origin, path in generated.zone_files.items():
        zone = dns.zone.from_file(str(path), origin=origin + ".", relativize=False)
        assert zone.get_rdataset(origin + ".", dns.rdatatype.SOA) is not None, origin


def test_zone_file_keeps_split_strings(generated) -> None:
    path = generated.zone_files["hard.test"]
    zone = dns.zone.from_file(str(path), origin="hard.test.", relativize=False)
    rdataset = zone.get_rdataset("spf-split-strings.hard.test.", dns.rdatatype.TXT)

    assert [rdata.strings for rdata in rdataset] == [
        (b"v=spf1 ip4:192.0.2.0/24 ", b"include:_spf.postbox.test -all")
    ]


def test_corpus_states_when_seen() -> None:
    corpus = load_corpus()

    assert "2024" in corpus["seen"]
    assert "may have changed" in corpus["seen"]
    assert len(corpus["domains"]) >= 50


def test_corpus_truth(generated) -> None:
    truth = generated.manifest["truth"]
    corpus_domains = generated.manifest["corpus_domains"]

    assert "gmail.com" in corpus_domains
    for domain in corpus_domains:
        entry = truth[domain]
        assert entry["source"] == "corpus"
        assert entry["has_mx"], domain
        assert entry["spf_valid"], (domain, entry["spf_error"])
    assert truth["gmail.com"]["spf_lookups"] == 4
    assert truth["gmail.com"]["spf_all"] == "~all"
    assert truth["gmail.com"]["has_mta_sts"] is True
    assert truth["gmail.com"]["has_tls_rpt"] is True
    assert truth["google.com"]["dmarc_policy"] == "reject"
    assert truth["yahoo.com"]["has_bimi"] is True
    assert truth["gmail.com"]["mx_hosts"][0] == "gmail-smtp-in.l.google.com"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("v=spf1 -all", True),
        ("v=spf1", True),
        ("V=SPF1 -ALL", True),
        ("v=spf10 -all", False),
        ("v=spf1-all", False),
        ("spf1 -all", False),
    ],
)
def test_spf_record_detection(text: str, expected: bool) -> None:
    assert is_spf_record(text) is expected
