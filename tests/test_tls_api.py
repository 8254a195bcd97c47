"""Tests of dnsscience.scan_tls and scan_tls_many against every TLS test bed case.

Each bed target is probed once per module, by address with its name as SNI and
again by name through the bed's own DNS zone. The checks compare the result with
the target's Expected: status, failure stage and reason, findings, verification,
and every extracted certificate field.
"""

from __future__ import annotations

import base64
import hashlib
import resource
import socket
import time
from datetime import datetime, timezone

import pytest

from dnsscience.testbed.tls import TlsTarget
from dnsscience.tls import TlsResult, default_max_connections, scan_tls, scan_tls_many

# Every target the bed plans. test_target_list_is_complete keeps this in step.
TARGET_NAMES = [
    "valid.tls.test",
    "127.44.3.1",
    "stapled.tls.test",
    "expiring5.tls.test",
    "expiring20.tls.test",
    "expired.tls.test",
    "notyetvalid.tls.test",
    "selfsigned.tls.test",
    "wronghost.tls.test",
    "127.44.3.8",
    "www.wildcard.tls.test",
    "wildcard.tls.test",
    "deep.www.wildcard.tls.test",
    "sanonly.tls.test",
    "rsa1024.tls.test",
    "ecdsa256.tls.test",
    "ecdsa384.tls.test",
    "ed25519.tls.test",
    "sha1.tls.test",
    "nointermediate.tls.test",
    "year2051.tls.test",
    "negserial.tls.test",
    "tls13only.tls.test",
    "sni-strict.tls.test",
    "unknown-sni.tls.test",
    "silent.tls.test",
    "close-after-hello.tls.test",
    "reset-after-hello.tls.test",
    "garbage.tls.test",
    "refused.tls.test",
    "trickle.tls.test",
    "smtp.tls.test",
    "smtp-nostarttls.tls.test",
    "smtp-reject.tls.test",
    "smtp-unavailable.tls.test",
    "smtp-flood.tls.test",
    "imap.tls.test",
    "pop3.tls.test",
    "missing.tls.test",
    "noaddress.tls.test",
]
ADDRESS_TARGETS = [
    name for name in TARGET_NAMES if name not in ("missing.tls.test", "noaddress.tls.test")
]

# Short deadlines keep the timeout cases (silent, trickle) to about a second each.
TIMEOUT = 1.0
TOTAL_TIMEOUT = 4.0


def probe_item(target: TlsTarget, *, by_name: bool) -> dict:
    item: dict = {"host": target.name if by_name else target.address, "port": target.port}
    if not by_name and not target.is_ip_literal:
        item["sni"] = target.name
    item["starttls"] = target.starttls
    return item


def result_key(result: TlsResult) -> tuple[str, str | None]:
    return (result.host, result.sni)


@pytest.fixture(scope="module")
def results_by_address(tls_testbed, tls_nameserver) -> dict[str, TlsResult]:
    targets = [tls_testbed.target(name) for name in ADDRESS_TARGETS]
    items = [probe_item(target, by_name=False) for target in targets]
    results = list(
        scan_tls_many(
            items,
            ca_file=str(tls_testbed.ca_file),
            timeout=TIMEOUT,
            total_timeout=TOTAL_TIMEOUT,
            nameservers=[tls_nameserver],
        )
    )
    by_key = {result_key(result): result for result in results}
    named = {}
    for target in targets:
        sni = None if target.is_ip_literal else target.name
        named[target.name] = by_key[(target.address, sni)]
    return named


@pytest.fixture(scope="module")
def results_by_name(tls_testbed, tls_nameserver) -> dict[str, TlsResult]:
    targets = [tls_testbed.target(name) for name in TARGET_NAMES if not name[0].isdigit()]
    items = [probe_item(target, by_name=True) for target in targets]
    results = scan_tls_many(
        items,
        ca_file=str(tls_testbed.ca_file),
        timeout=TIMEOUT,
        total_timeout=TOTAL_TIMEOUT,
        nameservers=[tls_nameserver],
    )
    return {result.host: result for result in results}


def san_entry(text: str) -> tuple[str, str]:
    """Map an OpenSSL subjectAltName entry ("IP:1.2.3.4") to the prober's (type, value)."""
    kind, value = text.split(":", 1)
    return kind.lower(), value


def check_result(result: TlsResult, target: TlsTarget) -> None:
    expected = target.expected
    assert result.status == expected.status, (result.error, result.findings)
    assert result.port == target.port
    if expected.status == "failed":
        assert result.certificate is None
        assert result.error is not None
        assert result.error.stage == expected.stage, result.error
        assert result.error.reason == expected.reason, result.error
        if expected.transient is not None:
            assert result.error.transient is expected.transient
        if expected.alert is not None:
            assert expected.alert in (result.error.detail or "")
    else:
        assert result.error is None
    assert expected.findings <= result.finding_codes
    if expected.trusted is not None:
        assert result.trusted is expected.trusted, result.verify_error
    if expected.hostname_match is not None:
        assert result.hostname_match is expected.hostname_match
    if expected.protocol is not None:
        assert result.protocol == expected.protocol
    if expected.ocsp_stapled is not None:
        assert result.ocsp_stapled is expected.ocsp_stapled
    if expected.chain_length is not None:
        assert len(result.chain) == expected.chain_length
    if expected.banner_prefix is not None:
        assert (result.banner or "").startswith(expected.banner_prefix)
    if expected.certificate is not None:
        check_certificate(result, target)


def check_certificate(result: TlsResult, target: TlsTarget) -> None:
    issued = target.expected.certificate
    certificate = result.certificate
    assert certificate is not None
    assert base64.b64decode(result.chain[0].der_base64) == issued.der
    assert certificate.sha256_fingerprint == issued.sha256_fingerprint
    assert certificate.spki_sha256 == issued.spki_sha256
    assert certificate.subject_cn == issued.subject_cn
    assert certificate.subject_o == issued.subject_o
    assert certificate.issuer_cn == issued.issuer_cn
    assert certificate.issuer_o == issued.issuer_o
    assert certificate.not_before == issued.not_before
    assert certificate.not_after == issued.not_after
    assert certificate.serial == issued.serial_hex
    assert certificate.signature_algorithm == issued.signature_algorithm
    assert certificate.key_type == issued.key_type
    if issued.key_bits is not None:
        assert certificate.key_bits == issued.key_bits
    assert certificate.key_curve == issued.key_curve
    assert certificate.self_signed is issued.self_signed
    sans = {(san.type, san.value) for san in certificate.sans}
    assert sans == {san_entry(text) for text in issued.sans}
    assert certificate.ocsp_urls == ["http://ocsp.tls.test/"]
    assert certificate.crl_urls == ["http://ca.tls.test/intermediate.crl"]
    assert certificate.ca_issuers_urls == ["http://ca.tls.test/intermediate.crt"]
    assert "serverAuth" in " ".join(certificate.extended_key_usage) or (
        "TLS Web Server Authentication" in certificate.extended_key_usage
    )


def test_target_list_is_complete(tls_testbed):
    assert [target.name for target in tls_testbed.targets] == TARGET_NAMES


@pytest.mark.parametrize("name", ADDRESS_TARGETS)
def test_probe_by_address(tls_testbed, results_by_address, name):
    target = tls_testbed.target(name)
    result = results_by_address[name]
    assert result.address == target.address
    check_result(result, target)


@pytest.mark.parametrize("name", [name for name in TARGET_NAMES if not name[0].isdigit()])
def test_probe_by_name(tls_testbed, results_by_name, name):
    target = tls_testbed.target(name)
    result = results_by_name[name]
    if target.address is not None:
        assert result.address == target.address
    assert result.sni == name
    check_result(result, target)


def test_timeouts_respect_deadline(results_by_address):
    for name in ("silent.tls.test", "trickle.tls.test"):
        elapsed = results_by_address[name].elapsed_ms
        assert TIMEOUT * 1000 * 0.9 <= elapsed < TOTAL_TIMEOUT * 1000, name


def test_ip_literal_sends_no_sni(results_by_address):
    result = results_by_address["127.44.3.1"]
    assert result.sni is None
    assert result.hostname_match is True


def test_alpn_only_on_https_ports(results_by_address):
    # The prober offers ALPN on 443 and 8443 only; the bed's port is neither.
    assert results_by_address["valid.tls.test"].alpn is None


def test_days_until_expiry(results_by_address):
    now = datetime.now(timezone.utc)
    for name, days in (("expiring5.tls.test", 5), ("expiring20.tls.test", 20)):
        certificate = results_by_address[name].certificate
        assert certificate.days_until_expiry in (days - 1, days), name
        assert (certificate.not_after - now).days in (days - 1, days), name
    assert results_by_address["expired.tls.test"].certificate.days_until_expiry < 0


def test_to_dict_round_trips(results_by_address):
    result = results_by_address["valid.tls.test"]
    document = result.to_dict()
    assert document["certificate"]["sha256_fingerprint"] == result.certificate.sha256_fingerprint
    assert TlsResult.from_dict(document) == result


def test_scan_tls_single(tls_testbed, tls_nameserver):
    target = tls_testbed.target("ecdsa384.tls.test")
    result = scan_tls(
        target.address,
        target.port,
        sni=target.name,
        ca_file=str(tls_testbed.ca_file),
        nameservers=[tls_nameserver],
        timeout=TIMEOUT,
    )
    assert result.status == "valid"
    assert result.subject_cn == "ecdsa384.tls.test"
    assert result.not_after == target.expected.certificate.not_after
    assert hashlib.sha256(base64.b64decode(result.chain[0].der_base64)).hexdigest() == (
        target.expected.certificate.sha256_fingerprint
    )


def test_scan_tls_smtp_starttls(tls_testbed, tls_nameserver):
    target = tls_testbed.target("smtp.tls.test")
    result = scan_tls(
        target.address,
        target.port,
        sni=target.name,
        starttls="smtp",
        ca_file=str(tls_testbed.ca_file),
        nameservers=[tls_nameserver],
        timeout=TIMEOUT,
    )
    assert result.status == "valid"
    assert result.starttls == "smtp"


def test_untrusted_without_ca_file(tls_testbed, tls_nameserver):
    target = tls_testbed.target("valid.tls.test")
    result = scan_tls(target.address, target.port, sni=target.name, nameservers=[tls_nameserver])
    assert result.status == "untrusted"
    assert result.trusted is False
    assert result.verify_error_code == 20


def test_progress_and_completion(tls_testbed, tls_nameserver):
    targets = [tls_testbed.target(name) for name in ("valid.tls.test", "refused.tls.test")]
    calls = []
    results = list(
        scan_tls_many(
            [probe_item(target, by_name=False) for target in targets],
            nameservers=[tls_nameserver],
            timeout=TIMEOUT,
            progress=lambda done, total: calls.append((done, total)),
        )
    )
    assert len(results) == 2
    assert calls[0] == (0, 2)
    assert calls[-1] == (2, 2)


def test_many_stops_when_closed(tls_testbed, tls_nameserver):
    refused = probe_item(tls_testbed.target("refused.tls.test"), by_name=False)
    silent = probe_item(tls_testbed.target("silent.tls.test"), by_name=False)
    started = time.monotonic()
    iterator = scan_tls_many(
        [refused] + [silent] * 4, nameservers=[tls_nameserver], timeout=5.0, concurrency=5
    )
    first = next(iterator)
    iterator.close()
    assert first.error.reason == "connection_refused"
    assert time.monotonic() - started < 3.0


@pytest.fixture
def syn_dropping_port():
    """A loopback port whose accept queue is full, so connects to it time out."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(2):
        filler = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        filler.setblocking(False)
        filler.connect_ex(("127.0.0.1", port))
        fillers.append(filler)
    time.sleep(0.05)
    yield port
    for filler in fillers:
        filler.close()
    listener.close()


def test_silent_connects_leave_handshakes(tls_testbed, tls_nameserver, syn_dropping_port):
    valid = probe_item(tls_testbed.target("valid.tls.test"), by_name=False)
    silent = {"host": "127.0.0.1", "port": syn_dropping_port, "starttls": "none"}
    started = time.monotonic()
    iterator = scan_tls_many(
        [silent, silent, silent, valid],
        nameservers=[tls_nameserver],
        ca_file=str(tls_testbed.ca_file),
        timeout=2.0,
        concurrency=1,
        max_connections=4,
        max_per_address=4,
    )
    first = next(iterator)
    first_after = time.monotonic() - started
    rest = list(iterator)
    assert first.status == "valid"
    assert first_after < 1.5
    assert sorted(result.error.reason for result in rest) == ["connect_timeout"] * 3


def test_default_max_connections_within_rlimit():
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    value = default_max_connections(500)
    assert 1 <= value <= 2000
    if soft != resource.RLIM_INFINITY:
        assert value <= soft - 64 or value == 1


@pytest.mark.parametrize("value", [0, -1, 1.5, "10"])
def test_max_connections_rejects_bad_values(tls_nameserver, value):
    with pytest.raises(ValueError, match="max_connections"):
        scan_tls_many(["127.0.0.1:443"], nameservers=[tls_nameserver], max_connections=value)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"host": ""}, "host"),
        ({"host": "a.test", "port": 0}, "port"),
        ({"host": "a.test", "starttls": "ftp"}, "starttls"),
        ({"host": "a.test", "timeout": 0}, "timeout"),
    ],
)
def test_scan_tls_rejects_bad_arguments(arguments, message):
    with pytest.raises(ValueError, match=message):
        scan_tls(**arguments, nameservers=["127.0.0.1:9"])
