"""The original SSL Scanner's per-target logic, in Python ``ssl``, as a benchmark baseline.

It reproduces the patched original scanner, which runs a pool of 50 threads.
Per target it makes a TCP connect with a 5 s timeout and a TLS handshake without
certificate or host name verification, with cipher string "ALL" at OpenSSL
security level 0 and SNI set to the domain. It then analyzes the certificate
(subject, issuer, serial, signature algorithm, validity, days until expiry,
self-signed, key type and size, SANs) and computes the SSL-Labs-like grade. The
main thread waits up to 60 s for each future. A failure produces an outcome with
the error text and no certificate. Nothing is written to a database.

Targets are ``Target(name, address, port)``: the scanner connects to ``address``
and sends ``name`` as SNI, so no DNS lookup takes place.
Needs the ``cryptography`` package, as the original did.
"""

from __future__ import annotations

import socket
import ssl
import time
import warnings
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeoutError
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.utils import CryptographyDeprecationWarning

# The test bed serves a certificate with a negative serial on purpose; cryptography
# still parses it but warns on every load.
warnings.filterwarnings("ignore", category=CryptographyDeprecationWarning)

__all__ = ["CONNECT_TIMEOUT", "WORKERS", "Target", "scan_many", "scan_target"]

#: Threads of the original scanner (SSL_SCANNER_WORKERS default).
WORKERS = 50
#: The original's TCP connect timeout, in seconds; the socket keeps it for the handshake.
CONNECT_TIMEOUT = 5.0
#: How long the original's main thread waits for one future, in seconds.
FUTURE_TIMEOUT = 60.0


@dataclass(frozen=True)
class Target:
    """A scan target: the address and port to connect to and the name sent as SNI."""

    name: str
    address: str
    port: int


def _client_context() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.set_ciphers("ALL:@SECLEVEL=0")
    return context


def _name_dict(name: x509.Name) -> dict[str, str]:
    return {attribute.rfc4514_attribute_name: str(attribute.value) for attribute in name}


def _key_facts(certificate: x509.Certificate) -> tuple[str, int | None]:
    key = certificate.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        return "RSA", key.key_size
    if isinstance(key, ec.EllipticCurvePublicKey):
        return "EC", key.key_size
    if isinstance(key, dsa.DSAPublicKey):
        return "DSA", key.key_size
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "Ed25519", 256
    if isinstance(key, ed448.Ed448PublicKey):
        return "Ed448", 456
    return "unknown", None


def _grade(analysis: dict[str, Any], protocol: str | None) -> str:
    # The original grade: F at once for expired, self-signed, weak key or MD5,
    # else 100 with deductions and a bonus, cut into letters.
    signature = (analysis["signature_algorithm"] or "").lower()
    if (
        analysis["is_expired"]
        or analysis["self_signed"]
        or analysis["weak_key"]
        or "md5" in signature
    ):
        return "F"
    score = 100
    if analysis["days_until_expiry"] < 30:
        score -= 10
    if "sha1" in signature:
        score -= 20
    if protocol == "TLSv1.3":
        score += 5
    elif protocol == "TLSv1.1":
        score -= 15
    elif protocol in ("TLSv1", "SSLv3"):
        score -= 30
    for cutoff, letter in ((95, "A+"), (85, "A"), (75, "A-"), (65, "B"), (50, "C"), (35, "D")):
        if score >= cutoff:
            return letter
    return "F"


def analyze_certificate(der: bytes, protocol: str | None) -> dict[str, Any]:
    """Return the original scanner's analysis of a DER certificate, grade included."""
    certificate = x509.load_der_x509_certificate(der)
    not_before = certificate.not_valid_before_utc
    not_after = certificate.not_valid_after_utc
    now = datetime.now(timezone.utc)
    key_type, key_size = _key_facts(certificate)
    try:
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        names = san.value.get_values_for_type(x509.DNSName)
    except x509.ExtensionNotFound:
        names = []
    try:
        signature_algorithm = certificate.signature_hash_algorithm.name
    except Exception:  # noqa: BLE001 - Ed25519 and unknown algorithms have no hash
        signature_algorithm = None
    analysis = {
        "subject": _name_dict(certificate.subject),
        "issuer": _name_dict(certificate.issuer),
        "serial_number": str(certificate.serial_number),
        "signature_algorithm": signature_algorithm,
        "not_before": not_before.isoformat(),
        "not_after": not_after.isoformat(),
        "days_until_expiry": (not_after - now).days,
        "is_expired": not_after < now,
        "self_signed": certificate.issuer == certificate.subject,
        "key_type": key_type,
        "key_size": key_size,
        "weak_key": key_type == "unknown"
        or (key_type in ("RSA", "DSA") and (key_size or 0) < 2048),
        "san": names,
    }
    analysis["grade"] = _grade(analysis, protocol)
    return analysis


def scan_target(target: Target) -> dict[str, Any]:
    """Connect, shake hands and analyze one target; return its outcome."""
    outcome: dict[str, Any] = {"name": target.name, "port": target.port, "certificate": None}
    started = time.monotonic()
    try:
        with socket.create_connection(
            (target.address, target.port), timeout=CONNECT_TIMEOUT
        ) as raw:
            with _client_context().wrap_socket(raw, server_hostname=target.name) as tls:
                der = tls.getpeercert(binary_form=True)
                protocol = tls.version()
                outcome["protocol"] = protocol
                cipher_name, _, cipher_bits = tls.cipher()
                outcome["cipher"] = (cipher_name, cipher_bits)
        if der:
            outcome["certificate"] = analyze_certificate(der, protocol)
        outcome["status"] = "certificate"
    except (OSError, ValueError) as error:
        # socket.timeout, ConnectionRefusedError and ssl.SSLError are all OSError.
        outcome["status"] = "error"
        outcome["error"] = f"{type(error).__name__}: {error}"
    outcome["elapsed_ms"] = (time.monotonic() - started) * 1000
    return outcome


def scan_many(
    targets: Iterable[Target],
    workers: int = WORKERS,
    progress: Callable[[int, int], None] | None = None,
) -> list[dict[str, Any]]:
    """Scan ``targets`` with ``workers`` threads, as the original scanner did.

    Returns one outcome per target in input order. A future that does not finish
    within 60 s gets the status ``future_timeout``, like the original's skipped ones.
    """
    items = list(targets)
    outcomes: list[dict[str, Any]] = []
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(scan_target, target) for target in items]
        for index, (target, future) in enumerate(zip(items, futures, strict=True), start=1):
            try:
                outcomes.append(future.result(timeout=FUTURE_TIMEOUT))
            except FutureTimeoutError:
                outcomes.append(
                    {"name": target.name, "port": target.port, "status": "future_timeout"}
                )
            if progress is not None:
                progress(index, len(items))
    return outcomes
