"""Tests of the TLS test bed: each server serves what its target's Expected describes.

The checks use Python's ssl module, smtplib, imaplib, poplib and the openssl
command as independent clients, so a prober can trust the bed's expectations.
"""

from __future__ import annotations

import imaplib
import ipaddress
import poplib
import smtplib
import socket
import ssl
import subprocess
import time
import warnings
from datetime import datetime, timedelta, timezone

import pytest
from fixtures_tls import unverified_client_context

from dnsscience.testbed.ca import serial_der_hex
from dnsscience.testbed.misbehaving import GARBAGE
from dnsscience.testbed.tls import TlsTarget, TlsTestBed

CERTIFICATE_TARGETS = [
    "valid.tls.test",
    "stapled.tls.test",
    "expiring5.tls.test",
    "expiring20.tls.test",
    "expired.tls.test",
    "notyetvalid.tls.test",
    "selfsigned.tls.test",
    "wronghost.tls.test",
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
]

# OpenSSL verify error codes (include/openssl/x509_vfy.h) that Python's verifying
# client must report, by target; targets not listed must verify.
VERIFY_ERRORS = {
    "expired.tls.test": 10,  # X509_V_ERR_CERT_HAS_EXPIRED
    "notyetvalid.tls.test": 9,  # X509_V_ERR_CERT_NOT_YET_VALID
    "selfsigned.tls.test": 18,  # X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT
    "nointermediate.tls.test": 20,  # X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY
    "wronghost.tls.test": 62,  # X509_V_ERR_HOSTNAME_MISMATCH
    "wildcard.tls.test": 62,
    "deep.www.wildcard.tls.test": 62,
}


def handshake(target: TlsTarget, context: ssl.SSLContext, *, timeout: float = 5.0) -> ssl.SSLSocket:
    """Connect to ``target`` and complete a TLS handshake, sending SNI for names."""
    raw = socket.create_connection((target.address, target.port), timeout=timeout)
    server_hostname = None if target.is_ip_literal else target.name
    try:
        return context.wrap_socket(raw, server_hostname=server_hostname)
    except BaseException:
        raw.close()
        raise


def openssl_client(target: TlsTarget, *options: str) -> str:
    """Run `openssl s_client` against ``target`` and return its standard output."""
    command = [
        "openssl",
        "s_client",
        "-connect",
        f"{target.address}:{target.port}",
        "-servername",
        target.name,
        "-cipher",
        "ALL:@SECLEVEL=0",
        *options,
    ]
    completed = subprocess.run(
        command, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=20, check=False
    )
    return completed.stdout


def certificate_text(der: bytes) -> str:
    """Return `openssl x509 -text` of a DER certificate."""
    completed = subprocess.run(
        ["openssl", "x509", "-inform", "DER", "-noout", "-text", "-serial"],
        input=der,
        capture_output=True,
        timeout=20,
        check=True,
    )
    return completed.stdout.decode()


def verifying_context(bed: TlsTestBed) -> ssl.SSLContext:
    """A client context that trusts only the bed's root and checks the host name."""
    context = ssl.create_default_context(cafile=str(bed.ca_file))
    # Level 0 keeps RSA 1024 and SHA-1 out of the verdict: only the chain and the
    # name decide.
    context.set_ciphers("ALL:@SECLEVEL=0")
    return context


@pytest.mark.parametrize("name", CERTIFICATE_TARGETS)
def test_served_leaf_is_expected_certificate(tls_testbed, tls_client_context, name):
    target = tls_testbed.target(name)
    certificate = target.expected.certificate
    assert certificate is not None
    with handshake(target, tls_client_context) as tls:
        served = tls.getpeercert(binary_form=True)
    assert served == certificate.der


@pytest.mark.parametrize("name", CERTIFICATE_TARGETS)
def test_served_chain_length(tls_testbed, name):
    target = tls_testbed.target(name)
    output = openssl_client(target, "-showcerts")
    assert output.count("-----BEGIN CERTIFICATE-----") == target.expected.chain_length


@pytest.mark.parametrize("name", CERTIFICATE_TARGETS)
def test_verification_outcome(tls_testbed, name):
    target = tls_testbed.target(name)
    context = verifying_context(tls_testbed)
    expected_error = VERIFY_ERRORS.get(name)
    if expected_error is None:
        assert target.expected.trusted is True
        with handshake(target, context) as tls:
            assert tls.getpeercert()
        return
    with pytest.raises(ssl.SSLCertVerificationError) as caught:
        handshake(target, context)
    assert caught.value.verify_code == expected_error
    if expected_error == 62:
        assert target.expected.hostname_match is False
    elif expected_error == 10:
        assert target.expected.status == "expired"
    elif expected_error == 9:
        assert target.expected.status == "not_yet_valid"
    else:
        assert target.expected.trusted is False


def test_ip_literal_target_matches_ip_san(tls_testbed):
    valid = tls_testbed.target("valid.tls.test")
    target = tls_testbed.target(valid.address)
    context = verifying_context(tls_testbed)
    with socket.create_connection((target.address, target.port), timeout=5) as raw:
        with context.wrap_socket(raw, server_hostname=target.address) as tls:
            assert tls.getpeercert(binary_form=True) == valid.expected.certificate.der
    assert target.expected.status == "valid"


def test_expiry_dates_relative_to_now(tls_testbed):
    now = datetime.now(timezone.utc)
    certificates = tls_testbed.certificates
    assert timedelta(days=4) < certificates["expiring5"].not_after - now <= timedelta(days=5)
    assert timedelta(days=19) < certificates["expiring20"].not_after - now <= timedelta(days=20)
    assert certificates["expired"].not_after < now
    assert certificates["notyetvalid"].not_before > now
    assert certificates["year2051"].not_after == datetime(2051, 6, 1, 12, tzinfo=timezone.utc)


def test_year2051_uses_generalized_time(tls_testbed):
    der = tls_testbed.certificates["year2051"].der
    assert "Not After : Jun  1 12:00:00 2051 GMT" in certificate_text(der)
    # GeneralizedTime (tag 0x18) with a four-digit year, as RFC 5280 section
    # 4.1.2.5 requires for dates in 2050 and later.
    assert b"\x18\x0f20510601120000Z" in der


def test_negative_serial_is_served(tls_testbed):
    certificate = tls_testbed.certificates["negserial"]
    assert certificate.serial == -0x7A3F00112233445566
    assert "serial=-7A3F00112233445566" in certificate_text(certificate.der)
    assert certificate.serial_hex == "85c0ffeeddccbbaa9a"


@pytest.mark.parametrize(
    ("serial", "content"),
    [
        (0, "00"),
        (1, "01"),
        (127, "7f"),
        (128, "0080"),
        (255, "00ff"),
        (-1, "ff"),
        (-128, "80"),
        (-129, "ff7f"),
        (-0x8000, "8000"),
    ],
)
def test_serial_der_hex(serial, content):
    assert serial_der_hex(serial) == content


@pytest.mark.parametrize(
    ("case", "text"),
    [
        ("rsa1024", "Public-Key: (1024 bit)"),
        ("valid", "Public-Key: (2048 bit)"),
        ("ecdsa256", "ASN1 OID: prime256v1"),
        ("ecdsa384", "ASN1 OID: secp384r1"),
        ("ed25519", "Public Key Algorithm: ED25519"),
        ("sha1", "Signature Algorithm: sha1WithRSAEncryption"),
        ("valid", "Signature Algorithm: sha256WithRSAEncryption"),
        ("valid", "IP Address:127.44.3.1"),
        ("valid", "email:hostmaster@valid.tls.test"),
        ("valid", "URI:https://valid.tls.test/"),
        ("valid", "OCSP - URI:http://ocsp.tls.test/"),
        ("valid", "CA Issuers - URI:http://ca.tls.test/intermediate.crt"),
        ("valid", "URI:http://ca.tls.test/intermediate.crl"),
        ("valid", "TLS Web Server Authentication"),
    ],
)
def test_certificate_contents(tls_testbed, case, text):
    assert text in certificate_text(tls_testbed.certificates[case].der)


def test_certificate_facts_match_openssl(tls_testbed):
    for case, certificate in tls_testbed.certificates.items():
        text = certificate_text(certificate.der)
        assert f"Signature Algorithm: {certificate.signature_algorithm}" in text, case
        if certificate.subject_cn is None:
            assert "CN = " not in text.split("Subject:", 1)[1].splitlines()[0], case
        else:
            assert f"CN = {certificate.subject_cn}" in text, case


def test_sanonly_subject_has_no_cn(tls_testbed):
    certificate = tls_testbed.certificates["sanonly"]
    subject = certificate_text(certificate.der).split("Subject:", 1)[1].splitlines()[0]
    assert subject.strip() == "O = dnsscience test"
    assert certificate.subject_cn is None


def test_weak_certificates_accept_tls10(tls_testbed):
    for name in ("valid.tls.test", "rsa1024.tls.test", "sha1.tls.test"):
        context = unverified_client_context()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            context.maximum_version = ssl.TLSVersion.TLSv1
        with handshake(tls_testbed.target(name), context) as tls:
            assert tls.version() == "TLSv1", name


def test_tls13only_rejects_tls12(tls_testbed, tls_client_context):
    target = tls_testbed.target("tls13only.tls.test")
    tls_client_context.maximum_version = ssl.TLSVersion.TLSv1_2
    with pytest.raises(ssl.SSLError, match="(?i)protocol.version|unsupported.protocol"):
        handshake(target, tls_client_context)


def test_tls13only_negotiates_tls13(tls_testbed, tls_client_context):
    target = tls_testbed.target("tls13only.tls.test")
    with handshake(target, tls_client_context) as tls:
        assert tls.version() == target.expected.protocol == "TLSv1.3"


def test_valid_negotiates_alpn_h2(tls_testbed, tls_client_context):
    tls_client_context.set_alpn_protocols(["h2", "http/1.1"])
    with handshake(tls_testbed.target("valid.tls.test"), tls_client_context) as tls:
        assert tls.selected_alpn_protocol() == "h2"


def test_stapled_sends_ocsp_response(tls_testbed):
    output = openssl_client(tls_testbed.target("stapled.tls.test"), "-status")
    assert "OCSP Response Status: successful" in output
    assert "Cert Status: good" in output


def test_valid_sends_no_ocsp_response(tls_testbed):
    output = openssl_client(tls_testbed.target("valid.tls.test"), "-status")
    assert "OCSP response: no response sent" in output


def test_unknown_sni_gets_unrecognized_name(tls_testbed, tls_client_context):
    target = tls_testbed.target("unknown-sni.tls.test")
    assert target.expected.alert == "unrecognized_name"
    with pytest.raises(ssl.SSLError, match="(?i)unrecognized.name"):
        handshake(target, tls_client_context)


def test_silent_server_never_answers(tls_testbed, tls_client_context):
    target = tls_testbed.target("silent.tls.test")
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        handshake(target, tls_client_context, timeout=0.5)
    assert time.monotonic() - started >= 0.5


def test_close_after_hello_sends_eof(tls_testbed, tls_client_context):
    with pytest.raises(ssl.SSLEOFError):
        handshake(tls_testbed.target("close-after-hello.tls.test"), tls_client_context)


def test_reset_after_hello_resets(tls_testbed, tls_client_context):
    with pytest.raises(ConnectionResetError):
        handshake(tls_testbed.target("reset-after-hello.tls.test"), tls_client_context)


def client_hello() -> bytes:
    """Return the bytes of a real ClientHello, made with an in-memory TLS client."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    client = unverified_client_context().wrap_bio(incoming, outgoing, server_hostname="x.test")
    with pytest.raises(ssl.SSLWantReadError):
        client.do_handshake()
    return outgoing.read()


def test_garbage_server_sends_garbage(tls_testbed):
    target = tls_testbed.target("garbage.tls.test")
    with socket.create_connection((target.address, target.port), timeout=5) as raw:
        raw.sendall(client_hello())
        received = b""
        while chunk := raw.recv(4096):
            received += chunk
    assert received == GARBAGE


def test_garbage_fails_tls_handshake(tls_testbed, tls_client_context):
    with pytest.raises(ssl.SSLError, match="(?i)wrong.version|packet.length|record"):
        handshake(tls_testbed.target("garbage.tls.test"), tls_client_context)


def test_trickle_server_sends_slowly(tls_testbed):
    target = tls_testbed.target("trickle.tls.test")
    with socket.create_connection((target.address, target.port), timeout=5) as raw:
        raw.sendall(client_hello())
        received = b""
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            raw.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                received += raw.recv(4096)
            except TimeoutError:
                break
    # A TLS handshake record starts with content type 22.
    assert received[:1] == b"\x16"
    assert len(received) <= 10


def test_refused_port(tls_testbed):
    target = tls_testbed.target("refused.tls.test")
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((target.address, target.port), timeout=5)


def mail_context(bed: TlsTestBed) -> ssl.SSLContext:
    context = verifying_context(bed)
    # smtplib and friends send the address as server_hostname; the name is
    # checked separately below through the certificate.
    context.check_hostname = False
    return context


def read_first_line(target: TlsTarget) -> bytes:
    with socket.create_connection((target.address, target.port), timeout=5) as raw:
        return raw.makefile("rb").readline()


@pytest.mark.parametrize(
    "name", ["smtp.tls.test", "smtp-nostarttls.tls.test", "smtp-unavailable.tls.test"]
)
def test_smtp_banner(tls_testbed, name):
    target = tls_testbed.target(name)
    banner = read_first_line(target).decode()
    assert banner.startswith(target.expected.banner_prefix)
    assert banner.endswith("\r\n")


def test_smtp_starttls(tls_testbed):
    target = tls_testbed.target("smtp.tls.test")
    with smtplib.SMTP(
        target.address, target.port, timeout=5, local_hostname="probe.test"
    ) as client:
        client.ehlo()
        assert client.has_extn("starttls")
        client.starttls(context=mail_context(tls_testbed))
        assert client.sock.getpeercert(binary_form=True) == target.expected.certificate.der
        client.ehlo()
        assert not client.has_extn("starttls")


def test_smtp_without_starttls(tls_testbed):
    target = tls_testbed.target("smtp-nostarttls.tls.test")
    with smtplib.SMTP(
        target.address, target.port, timeout=5, local_hostname="probe.test"
    ) as client:
        client.ehlo()
        assert not client.has_extn("starttls")
        with pytest.raises(smtplib.SMTPNotSupportedError):
            client.starttls()


def test_smtp_rejects_starttls(tls_testbed):
    target = tls_testbed.target("smtp-reject.tls.test")
    with smtplib.SMTP(
        target.address, target.port, timeout=5, local_hostname="probe.test"
    ) as client:
        client.ehlo()
        assert client.has_extn("starttls")
        with pytest.raises(smtplib.SMTPResponseException) as caught:
            client.starttls()
        assert caught.value.smtp_code == 554


def test_smtp_unavailable_greets_421(tls_testbed):
    target = tls_testbed.target("smtp-unavailable.tls.test")
    with pytest.raises(smtplib.SMTPConnectError) as caught:
        smtplib.SMTP(target.address, target.port, timeout=5, local_hostname="probe.test")
    assert caught.value.smtp_code == 421
    assert target.expected.transient is True


def test_smtp_flood_exceeds_read_cap(tls_testbed):
    target = tls_testbed.target("smtp-flood.tls.test")
    limit = 512 * 1024
    received = b""
    with socket.create_connection((target.address, target.port), timeout=5) as raw:
        while len(received) < limit:
            chunk = raw.recv(65536)
            assert chunk, "the flood ended early"
            received += chunk
    lines = received.split(b"\r\n")[:-1]
    assert all(line.startswith(b"220-") for line in lines)


def test_imap_starttls(tls_testbed):
    target = tls_testbed.target("imap.tls.test")
    client = imaplib.IMAP4(target.address, target.port, timeout=5)
    try:
        assert "STARTTLS" in client.capabilities
        client.starttls(ssl_context=mail_context(tls_testbed))
        assert client.sock.getpeercert(binary_form=True) == target.expected.certificate.der
        assert "STARTTLS" not in client.capabilities
    finally:
        client.logout()


def test_pop3_stls(tls_testbed):
    target = tls_testbed.target("pop3.tls.test")
    client = poplib.POP3(target.address, target.port, timeout=5)
    try:
        assert "STLS" in client.capa()
        client.stls(context=mail_context(tls_testbed))
        assert client.sock.getpeercert(binary_form=True) == target.expected.certificate.der
        assert "STLS" not in client.capa()
    finally:
        client.quit()


def test_mail_certificate_names(tls_testbed):
    certificate = tls_testbed.certificates["mail"]
    for name in ("smtp.tls.test", "imap.tls.test", "pop3.tls.test"):
        assert f"DNS:{name}" in certificate.sans
        assert tls_testbed.target(name).expected.status == "valid"


def test_dns_records_cover_named_targets(tls_testbed):
    records = tls_testbed.dns_records()
    assert len(records) == len(set(records))
    address_records = {(name, value) for name, rrtype, value in records if rrtype == "A"}
    for target in tls_testbed.targets:
        if target.address is None or target.is_ip_literal:
            assert not any(name == target.name and rrtype == "A" for name, rrtype, _ in records)
        else:
            assert (target.name, target.address) in address_records
    assert ("noaddress.tls.test", "TXT") in {(name, rrtype) for name, rrtype, _ in records}
    assert all(name.endswith(".tls.test") for name, _, _ in records)


def test_addresses_are_loopback(tls_testbed):
    for target in tls_testbed.targets:
        if target.address is not None:
            assert ipaddress.ip_address(target.address).is_loopback, target.name


def test_every_target_has_expectation(tls_testbed):
    statuses = {
        "valid",
        "expiring_soon",
        "hostname_mismatch",
        "untrusted",
        "not_yet_valid",
        "expired",
        "failed",
    }
    for target in tls_testbed.targets:
        assert target.expected.status in statuses, target.name
        if target.expected.status == "failed":
            assert target.expected.stage in {"resolve", "connect", "starttls", "handshake", "total"}
            assert target.expected.reason, target.name
        else:
            assert target.expected.certificate is not None, target.name


def test_bed_rejects_non_loopback_prefix():
    with pytest.raises(ValueError, match="loopback"):
        TlsTestBed(address_prefix="10.0.0.")


def test_nameserver_resolves_bed_names(tls_testbed, tls_nameserver, dns_query):
    valid = tls_testbed.target("valid.tls.test")
    answer = dns_query(tls_nameserver, "valid.tls.test", "A")
    addresses = [item.address for rrset in answer.answer for item in rrset]
    assert addresses == [valid.address]
    missing = dns_query(tls_nameserver, "missing.tls.test", "A")
    assert missing.rcode() == 3  # NXDOMAIN
    no_address = dns_query(tls_nameserver, "noaddress.tls.test", "A")
    assert no_address.rcode() == 0
    assert no_address.answer == []
    silent = tls_testbed.target("silent.tls.test")
    wildcard = dns_query(tls_nameserver, "d7.silent.tls.test", "A")
    assert [item.address for rrset in wildcard.answer for item in rrset] == [silent.address]
