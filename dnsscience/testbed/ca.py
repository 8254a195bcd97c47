"""Local certificate authority for the TLS test bed, driven by the ``openssl`` command.

:class:`CertificateAuthority` creates a root and an intermediate CA in a folder and
issues leaf certificates from a :class:`LeafSpec`: any key type, explicit validity
dates (past, future or after 2049), SHA-1 signatures, self-signed leaves and negative
serial numbers. Validity dates are set with ``openssl ca -startdate/-enddate``
because OpenSSL 3.0 (Debian 12) has no date options on ``openssl x509``. Negative
serials need ``openssl x509 -req -set_serial``, because ``openssl ca`` reads its
serial file as an unsigned hex number.

Every leaf carries the extensions a prober extracts: SANs, key usage, extended key
usage, OCSP and CA Issuers URLs, a CRL distribution point and key identifiers.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import ssl
import subprocess
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

logger = logging.getLogger(__name__)

ROOT_SUBJECT = "/O=dnsscience test/CN=dnsscience Test Root CA"
INTERMEDIATE_SUBJECT = "/O=dnsscience test/CN=dnsscience Test Intermediate CA"
LEAF_ORGANIZATION = "dnsscience test"

# URLs written into every issued leaf. Nothing listens on them: the prober only
# extracts them.
OCSP_URL = "http://ocsp.tls.test/"
CA_ISSUERS_URL = "http://ca.tls.test/intermediate.crt"
CRL_URL = "http://ca.tls.test/intermediate.crl"

# Validity of the two CA certificates. The end lies after the 2051 leaf so that
# only the leaf's own dates decide its verdict.
_CA_NOT_BEFORE_AGO = timedelta(days=400)
_CA_NOT_AFTER = datetime(2060, 1, 1, tzinfo=timezone.utc)

_CONFIG = """\
[ca]
default_ca = test_ca

[test_ca]
database = {directory}/index.txt
new_certs_dir = {directory}/issued
serial = {directory}/serial
default_md = sha256
policy = policy_any
unique_subject = no
copy_extensions = none
email_in_dn = no

[policy_any]
organizationName = optional
commonName = optional

[req]
distinguished_name = empty_dn
prompt = no

[empty_dn]

[root_ext]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash

[intermediate_ext]
basicConstraints = critical,CA:TRUE,pathlen:0
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
"""

_LEAF_EXTENSIONS = """\
[leaf_ext]
basicConstraints = critical,CA:FALSE
keyUsage = critical,{key_usage}
extendedKeyUsage = serverAuth,clientAuth
subjectAltName = {sans}
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
authorityInfoAccess = OCSP;URI:{ocsp},caIssuers;URI:{ca_issuers}
crlDistributionPoints = URI:{crl}
"""

# Key specifications accepted by LeafSpec.key, mapped to `openssl genpkey` options
# and to the (key_type, key_bits, key_curve) a prober reports. key_bits for Ed25519
# is None because implementations disagree (OpenSSL's EVP_PKEY_get_bits returns 253).
_KEYS = {
    "rsa1024": (["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024"], ("rsa", 1024, None)),
    "rsa2048": (["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"], ("rsa", 2048, None)),
    "p256": (
        ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
        ("ec", 256, "P-256"),
    ),
    "p384": (
        ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"],
        ("ec", 384, "P-384"),
    ),
    "ed25519": (["-algorithm", "ED25519"], ("ed25519", None, None)),
}

# OpenSSL's long names of the signature algorithms the intermediate (RSA) and a
# self-signed leaf can produce, as `openssl x509 -text` prints them.
_SIGNATURE_ALGORITHMS = {
    ("rsa", "sha256"): "sha256WithRSAEncryption",
    ("rsa", "sha1"): "sha1WithRSAEncryption",
    ("ec", "sha256"): "ecdsa-with-SHA256",
    ("ed25519", "sha256"): "ED25519",
}


class TlsTestBedError(RuntimeError):
    """A test bed component (openssl, nginx, a loopback server) failed to start or run."""


@dataclass(frozen=True)
class LeafSpec:
    """Request for one leaf certificate.

    ``sans`` contains subjectAltName entries in OpenSSL's syntax (``DNS:a.test``,
    ``IP:127.0.0.1``, ``email:x@a.test``, ``URI:https://a.test/``). ``serial`` is
    chosen at random when None and may be negative, and then ``not_before`` is the
    signing time because ``openssl x509 -req`` only takes ``-days``.
    """

    name: str
    common_name: str | None
    sans: tuple[str, ...]
    not_before: datetime
    not_after: datetime
    key: str = "rsa2048"
    digest: str = "sha256"
    self_signed: bool = False
    serial: int | None = None


@dataclass(frozen=True)
class IssuedCertificate:
    """A generated leaf certificate, its key and the facts a prober should extract.

    ``chain_file`` contains what a server presents: the leaf, then the intermediate
    unless the leaf is self-signed. Dates are timezone-aware UTC, read back from the
    certificate.
    """

    name: str
    cert_file: Path
    key_file: Path
    chain_file: Path
    der: bytes
    subject_cn: str | None
    subject_o: str | None
    issuer_cn: str | None
    issuer_o: str | None
    sans: tuple[str, ...]
    not_before: datetime
    not_after: datetime
    serial: int
    signature_algorithm: str
    key_type: str
    key_bits: int | None
    key_curve: str | None
    spki_sha256: str
    self_signed: bool

    @property
    def sha256_fingerprint(self) -> str:
        """SHA-256 of the certificate DER, lowercase hex without separators."""
        return hashlib.sha256(self.der).hexdigest()

    @property
    def serial_hex(self) -> str:
        """Lowercase hex of the DER INTEGER content bytes of the serial number."""
        return serial_der_hex(self.serial)


def serial_der_hex(serial: int) -> str:
    """Return the lowercase hex of the DER INTEGER content bytes encoding ``serial``.

    DER uses the shortest two's complement form, so 128 encodes as ``0080`` and
    -1 as ``ff``.
    """
    length = 1
    while not -(1 << (8 * length - 1)) <= serial < (1 << (8 * length - 1)):
        length += 1
    return (serial % (1 << (8 * length))).to_bytes(length, "big").hex()


def openssl_time(moment: datetime) -> str:
    """Format an aware datetime as the GeneralizedTime string `openssl ca` accepts."""
    return moment.astimezone(timezone.utc).strftime("%Y%m%d%H%M%SZ")


class CertificateAuthority:
    """A root and an intermediate CA in ``directory``, issuing leaves on request.

    The root and the intermediate use RSA 2048 keys, and the intermediate signs
    every leaf that is not self-signed. ``ca_file`` contains only the root, so
    that a server which omits the intermediate fails verification.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        (self.directory / "issued").mkdir(exist_ok=True)
        (self.directory / "index.txt").write_text("")
        self._config = self.directory / "openssl.cnf"
        self._config.write_text(_CONFIG.format(directory=self.directory))
        self.root_file = self.directory / "root.pem"
        self.intermediate_file = self.directory / "intermediate.pem"
        self._root_key = self.directory / "root.key"
        self._intermediate_key = self.directory / "intermediate.key"
        self._create_authorities()

    @property
    def ca_file(self) -> Path:
        """PEM file with the root certificate only: the trust anchor to verify against."""
        return self.root_file

    def _create_authorities(self) -> None:
        now = datetime.now(timezone.utc).replace(microsecond=0)
        not_before = now - _CA_NOT_BEFORE_AGO

        self._generate_key(self._root_key, "rsa2048")
        root_csr = self._request(self._root_key, ROOT_SUBJECT, "root.csr")
        self._sign_with_ca(
            root_csr,
            self.root_file,
            extensions=["-extensions", "root_ext"],
            issuer=["-selfsign", "-keyfile", str(self._root_key)],
            not_before=not_before,
            not_after=_CA_NOT_AFTER,
            digest="sha256",
        )

        self._generate_key(self._intermediate_key, "rsa2048")
        intermediate_csr = self._request(
            self._intermediate_key, INTERMEDIATE_SUBJECT, "intermediate.csr"
        )
        self._sign_with_ca(
            intermediate_csr,
            self.intermediate_file,
            extensions=["-extensions", "intermediate_ext"],
            issuer=["-cert", str(self.root_file), "-keyfile", str(self._root_key)],
            not_before=not_before,
            not_after=_CA_NOT_AFTER,
            digest="sha256",
        )
        logger.debug("created the test CA in %s", self.directory)

    def issue(self, spec: LeafSpec) -> IssuedCertificate:
        """Generate a key and a certificate for ``spec`` and return both with their facts.

        Raises TlsTestBedError when an openssl command fails, and ValueError for an
        unknown key or digest name.
        """
        if spec.key not in _KEYS:
            raise ValueError(f"unknown key {spec.key!r}: use one of {sorted(_KEYS)}")
        if spec.digest not in ("sha256", "sha1"):
            raise ValueError(f"unknown digest {spec.digest!r}: use 'sha256' or 'sha1'")
        if not spec.sans:
            raise ValueError(f"leaf {spec.name!r} has no SANs: give at least one")

        key_file = self.directory / f"{spec.name}.key"
        cert_file = self.directory / f"{spec.name}.pem"
        chain_file = self.directory / f"{spec.name}.chain.pem"
        self._generate_key(key_file, spec.key)
        key_type, key_bits, key_curve = _KEYS[spec.key][1]

        subject = f"/O={LEAF_ORGANIZATION}"
        if spec.common_name is not None:
            subject += f"/CN={spec.common_name}"
        csr = self._request(key_file, subject, f"{spec.name}.csr")
        extension_file = self.directory / f"{spec.name}.ext"
        key_usage = "digitalSignature,keyEncipherment" if key_type == "rsa" else "digitalSignature"
        extension_file.write_text(
            _LEAF_EXTENSIONS.format(
                key_usage=key_usage,
                sans=",".join(spec.sans),
                ocsp=OCSP_URL,
                ca_issuers=CA_ISSUERS_URL,
                crl=CRL_URL,
            )
        )
        extensions = ["-extfile", str(extension_file), "-extensions", "leaf_ext"]

        if spec.self_signed:
            issuer = ["-selfsign", "-keyfile", str(key_file)]
            signer_type = key_type
        else:
            issuer = ["-cert", str(self.intermediate_file), "-keyfile", str(self._intermediate_key)]
            signer_type = "rsa"

        if spec.serial is not None and spec.serial <= 0:
            self._sign_with_serial(csr, cert_file, extensions, spec)
        else:
            self._sign_with_ca(
                csr,
                cert_file,
                extensions=extensions,
                issuer=issuer,
                not_before=spec.not_before,
                not_after=spec.not_after,
                digest=spec.digest,
                serial=spec.serial,
            )

        leaf_pem = cert_file.read_text()
        if spec.self_signed:
            chain_file.write_text(leaf_pem)
        else:
            chain_file.write_text(leaf_pem + self.intermediate_file.read_text())

        not_before, not_after, serial = self._read_dates_and_serial(cert_file)
        issuer_cn = spec.common_name if spec.self_signed else "dnsscience Test Intermediate CA"
        return IssuedCertificate(
            name=spec.name,
            cert_file=cert_file,
            key_file=key_file,
            chain_file=chain_file,
            der=ssl.PEM_cert_to_DER_cert(leaf_pem),
            subject_cn=spec.common_name,
            subject_o=LEAF_ORGANIZATION,
            issuer_cn=issuer_cn,
            issuer_o=LEAF_ORGANIZATION,
            sans=spec.sans,
            not_before=not_before,
            not_after=not_after,
            serial=serial,
            signature_algorithm=_SIGNATURE_ALGORITHMS[(signer_type, spec.digest)],
            key_type=key_type,
            key_bits=key_bits,
            key_curve=key_curve,
            spki_sha256=self._spki_sha256(cert_file),
            self_signed=spec.self_signed,
        )

    def ocsp_response(self, certificate: IssuedCertificate, valid_days: int = 7) -> Path:
        """Write a signed OCSP response saying ``certificate`` is good and return its path.

        The intermediate signs the response, for a server to staple. Only leaves
        issued by the intermediate are supported.
        """
        if certificate.self_signed:
            raise ValueError(f"{certificate.name!r} is self-signed: no CA can vouch for it")
        request = self.directory / f"{certificate.name}.ocsp-request.der"
        response = self.directory / f"{certificate.name}.ocsp-response.der"
        _run_openssl(
            [
                "ocsp",
                "-issuer",
                str(self.intermediate_file),
                "-cert",
                str(certificate.cert_file),
                "-no_nonce",
                "-reqout",
                str(request),
            ]
        )
        _run_openssl(
            [
                "ocsp",
                "-index",
                str(self.directory / "index.txt"),
                "-rsigner",
                str(self.intermediate_file),
                "-rkey",
                str(self._intermediate_key),
                "-CA",
                str(self.intermediate_file),
                "-reqin",
                str(request),
                "-respout",
                str(response),
                "-ndays",
                str(valid_days),
            ]
        )
        return response

    def _generate_key(self, key_file: Path, key: str) -> None:
        _run_openssl(["genpkey", *_KEYS[key][0], "-out", str(key_file)])
        key_file.chmod(0o600)

    def _request(self, key_file: Path, subject: str, csr_name: str) -> Path:
        csr = self.directory / csr_name
        _run_openssl(
            [
                "req",
                "-config",
                str(self._config),
                "-new",
                "-key",
                str(key_file),
                "-subj",
                subject,
                "-out",
                str(csr),
            ]
        )
        return csr

    def _sign_with_ca(
        self,
        csr: Path,
        cert_file: Path,
        *,
        extensions: list[str],
        issuer: list[str],
        not_before: datetime,
        not_after: datetime,
        digest: str,
        serial: int | None = None,
    ) -> None:
        if serial is None:
            # 127 random bits keep the serial positive and unique.
            serial = secrets.randbits(127) | 1
        # `openssl ca` requires an even number of hex digits in the serial file.
        serial_text = f"{serial:x}"
        if len(serial_text) % 2:
            serial_text = "0" + serial_text
        (self.directory / "serial").write_text(serial_text + "\n")
        _run_openssl(
            [
                "ca",
                "-config",
                str(self._config),
                "-batch",
                "-notext",
                "-preserveDN",
                *issuer,
                *extensions,
                "-in",
                str(csr),
                "-out",
                str(cert_file),
                "-startdate",
                openssl_time(not_before),
                "-enddate",
                openssl_time(not_after),
                "-md",
                digest,
            ]
        )

    def _sign_with_serial(
        self, csr: Path, cert_file: Path, extensions: list[str], spec: LeafSpec
    ) -> None:
        days = max(1, round((spec.not_after - spec.not_before).total_seconds() / 86400))
        sign = ["-CA", str(self.intermediate_file), "-CAkey", str(self._intermediate_key)]
        if spec.self_signed:
            sign = ["-signkey", str(self.directory / f"{spec.name}.key")]
        sign_serial = f"-0x{-spec.serial:x}" if spec.serial < 0 else "0"
        _run_openssl(
            [
                "x509",
                "-req",
                "-in",
                str(csr),
                *sign,
                *extensions,
                "-set_serial",
                sign_serial,
                "-days",
                str(days),
                f"-{spec.digest}",
                "-out",
                str(cert_file),
            ]
        )

    def _read_dates_and_serial(self, cert_file: Path) -> tuple[datetime, datetime, int]:
        output = _run_openssl(
            ["x509", "-in", str(cert_file), "-noout", "-startdate", "-enddate", "-serial"]
        )
        fields = dict(line.split("=", 1) for line in output.splitlines() if "=" in line)
        not_before = datetime.fromtimestamp(
            ssl.cert_time_to_seconds(fields["notBefore"]), timezone.utc
        )
        not_after = datetime.fromtimestamp(
            ssl.cert_time_to_seconds(fields["notAfter"]), timezone.utc
        )
        return not_before, not_after, int(fields["serial"], 16)

    def _spki_sha256(self, cert_file: Path) -> str:
        public_key_pem = _run_openssl(["x509", "-in", str(cert_file), "-noout", "-pubkey"])
        spki_der = _run_openssl_bytes(
            ["pkey", "-pubin", "-outform", "DER"], input_bytes=public_key_pem.encode()
        )
        return hashlib.sha256(spki_der).hexdigest()


def _run_openssl_bytes(arguments: list[str], input_bytes: bytes | None = None) -> bytes:
    command = ["openssl", *arguments]
    try:
        completed = subprocess.run(
            command, input=input_bytes, capture_output=True, check=False, timeout=60
        )
    except FileNotFoundError as error:
        raise TlsTestBedError(
            "the openssl command was not found: install the Debian package openssl"
        ) from error
    if completed.returncode != 0:
        raise TlsTestBedError(
            f"{' '.join(command)} failed with exit status {completed.returncode}: "
            f"{completed.stderr.decode(errors='replace').strip()}"
        )
    return completed.stdout


def _run_openssl(arguments: list[str], input_bytes: bytes | None = None) -> str:
    return _run_openssl_bytes(arguments, input_bytes).decode()
