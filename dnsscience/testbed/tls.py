"""The TLS test bed: a local CA, nginx and misbehaving servers on loopback addresses.

:class:`TlsTestBed` issues one certificate per case and serves them with nginx.
The cases are valid, expiring, expired, not yet valid, self-signed, wrong host,
wildcard, SAN-only, RSA 1024, ECDSA P-256 and P-384, Ed25519, SHA-1, missing
intermediate, not_after in 2051 and negative serial. The bed also starts the
servers of :mod:`dnsscience.testbed.misbehaving`. Every case has its own address in
``127.44.3.0/24`` (all of 127.0.0.0/8 is loopback on Linux) and every server listens
on one shared high port, chosen free at start.

:attr:`TlsTestBed.targets` lists what a prober should find at each name, as
:class:`TlsTarget` values whose :class:`Expected` uses the status, stage, reason and
finding codes of the prober's result JSON. Names live in the zone ``tls.test``:
:meth:`TlsTestBed.dns_records` returns the records a DNS test bed must serve so the
names resolve.

Example::

    with TlsTestBed() as bed:
        target = bed.target("valid.tls.test")
        context = ssl.create_default_context(cafile=bed.ca_file)
        with socket.create_connection((target.address, target.port)) as raw:
            with context.wrap_socket(raw, server_hostname=target.name) as tls:
                print(tls.version())
"""

from __future__ import annotations

import logging
import shutil
import socket
import tempfile
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

from dnsscience.testbed import misbehaving
from dnsscience.testbed.ca import CertificateAuthority, IssuedCertificate, LeafSpec, TlsTestBedError
from dnsscience.testbed.nginx import NginxServer, NginxSite

logger = logging.getLogger(__name__)

__all__ = ["Expected", "TlsTarget", "TlsTestBed", "TlsTestBedError"]

ZONE = "tls.test"
DEFAULT_ADDRESS_PREFIX = "127.44.3."
_PORT_ATTEMPTS = 5

# The one name of the bed without any record, and the one with a TXT record only.
NXDOMAIN_NAME = f"missing.{ZONE}"
NO_ADDRESS_NAME = f"noaddress.{ZONE}"


@dataclass(frozen=True)
class Expected:
    """Result a prober should report for a target. A field left None is not checked.

    ``status`` is the summary status of the prober's result ("valid",
    "expiring_soon", "hostname_mismatch", "untrusted", "not_yet_valid", "expired"
    or "failed"). ``stage``, ``reason``, ``transient`` and ``alert`` describe the
    error of a failed attempt. ``findings`` lists finding codes that must be present
    (others may be too). ``certificate`` is the leaf the server presents, with the
    facts the prober must extract from it. ``trusted`` judges the chain alone,
    ignoring the leaf's validity dates, which ``status`` and ``findings`` report.
    ``alpn`` is the protocol the server selects when offered h2 and http/1.1.
    ``chain_length`` counts the certificates the server sends.
    """

    status: str
    stage: str | None = None
    reason: str | None = None
    transient: bool | None = None
    alert: str | None = None
    findings: frozenset[str] = frozenset()
    certificate: IssuedCertificate | None = None
    trusted: bool | None = None
    hostname_match: bool | None = None
    protocol: str | None = None
    alpn: str | None = None
    ocsp_stapled: bool | None = None
    chain_length: int | None = None
    banner_prefix: str | None = None


@dataclass(frozen=True)
class TlsTarget:
    """One case of the bed: probe ``name`` (also the SNI) at ``address``:``port``.

    ``address`` is None for names that must fail to resolve. ``starttls`` is the
    protocol spoken before the handshake ("none", "smtp", "imap" or "pop3"). The
    bed's port is not a well-known one, so a prober must be given it explicitly.
    """

    name: str
    address: str | None
    port: int
    expected: Expected
    starttls: str = "none"

    @property
    def is_ip_literal(self) -> bool:
        """True when ``name`` is an IP address, which a client sends no SNI for."""
        try:
            socket.inet_pton(socket.AF_INET, self.name)
        except OSError:
            return False
        return True


@dataclass
class _Plan:
    """Certificates, servers and targets of one bed, before anything starts."""

    certificates: dict[str, IssuedCertificate] = field(default_factory=dict)
    sites: list[NginxSite] = field(default_factory=list)
    servers: list[tuple[type[misbehaving.LoopbackServer], str, dict[str, object]]] = field(
        default_factory=list
    )
    targets: list[tuple[str, str | None, Expected, str]] = field(default_factory=list)


class TlsTestBed:
    """CA, nginx and misbehaving servers for TLS tests; a context manager.

    ``directory`` receives the CA files and nginx's configuration and logs; by
    default a temporary folder, removed on stop. ``address_prefix`` is the first
    three octets of the loopback addresses, with a trailing dot. Starting takes a
    few seconds, mostly RSA key generation, so share one bed per test session.
    """

    def __init__(
        self,
        directory: Path | None = None,
        *,
        address_prefix: str = DEFAULT_ADDRESS_PREFIX,
    ) -> None:
        if not address_prefix.startswith("127.") or address_prefix.count(".") != 3:
            raise ValueError(
                f"address_prefix {address_prefix!r} is not a 127.x.y. loopback prefix: "
                "give three octets with a trailing dot, such as '127.44.3.'"
            )
        self._own_directory = directory is None
        self.directory = Path(directory) if directory else None
        self.address_prefix = address_prefix
        self.zone = ZONE
        self.port = 0
        self.ca: CertificateAuthority | None = None
        self.certificates: dict[str, IssuedCertificate] = {}
        self.targets: list[TlsTarget] = []
        self._nginx: NginxServer | None = None
        self._servers: list[misbehaving.LoopbackServer] = []
        self._next_host = 1

    def __enter__(self) -> TlsTestBed:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def ca_file(self) -> Path:
        """PEM file with the test root CA: the trust anchor for every bed certificate."""
        if self.ca is None:
            raise TlsTestBedError("the TLS test bed is not started: call start() first")
        return self.ca.ca_file

    def target(self, name: str) -> TlsTarget:
        """Return the target called ``name``; raises KeyError naming the known ones."""
        for target in self.targets:
            if target.name == name:
                return target
        known = ", ".join(target.name for target in self.targets)
        raise KeyError(f"no TLS test bed target {name!r}; known: {known}")

    def dns_records(self) -> list[tuple[str, str, str]]:
        """Return the (name, rrtype, value) records the ``tls.test`` zone must contain.

        The records are one A record per target name with an address (IP-literal
        targets excluded) and a TXT record for the name that must resolve without an
        address. A wildcard A record also sends every ``*.silent.tls.test`` name to
        the silent server, for tests that need many slow targets.
        """
        records: list[tuple[str, str, str]] = []
        for target in self.targets:
            if target.address is None or target.is_ip_literal:
                continue
            record = (target.name, "A", target.address)
            if record not in records:
                records.append(record)
        records.append((NO_ADDRESS_NAME, "TXT", "this name has no address record"))
        silent = self.target(f"silent.{ZONE}")
        records.append((f"*.silent.{ZONE}", "A", str(silent.address)))
        return records

    def zone_text(self) -> str:
        """Return a master file of the ``tls.test`` zone with :meth:`dns_records`.

        For a DNS server of one's own, such as
        :class:`~dnsscience.testbed.knot.KnotServer`. The SOA and NS name
        ``ns.tls.test``, which resolves to 127.0.0.1.
        """
        lines = [
            f"$ORIGIN {ZONE}.",
            "$TTL 300",
            f"@ IN SOA ns.{ZONE}. hostmaster.{ZONE}. 1 3600 600 86400 300",
            f"@ IN NS ns.{ZONE}.",
            f"ns.{ZONE}. IN A 127.0.0.1",
        ]
        for name, rrtype, value in self.dns_records():
            rdata = f'"{value}"' if rrtype == "TXT" else value
            lines.append(f"{name}. IN {rrtype} {rdata}")
        return "\n".join(lines) + "\n"

    def start(self) -> None:
        """Generate the certificates and start nginx and every misbehaving server.

        Retries with another port when one is taken. Raises TlsTestBedError when a
        component does not start.
        """
        if self.directory is None:
            self.directory = Path(tempfile.mkdtemp(prefix="dnsscience-tls-"))
        self.ca = CertificateAuthority(self.directory / "ca")
        plan = self._plan(datetime.now(timezone.utc).replace(microsecond=0))
        self.certificates = plan.certificates

        last_error: TlsTestBedError | None = None
        for _attempt in range(_PORT_ATTEMPTS):
            self.port = _free_port(self._all_addresses())
            try:
                self._start_servers(plan)
            except TlsTestBedError as error:
                self._stop_servers()
                if "in use" not in str(error):
                    raise
                logger.info("port %d is taken, trying another: %s", self.port, error)
                last_error = error
                continue
            self.targets = [
                TlsTarget(name, address, self.port, expected, starttls)
                for name, address, expected, starttls in plan.targets
            ]
            logger.info("TLS test bed serves %d targets on port %d", len(self.targets), self.port)
            return
        raise TlsTestBedError(f"no free port after {_PORT_ATTEMPTS} attempts: {last_error}")

    def stop(self) -> None:
        """Stop every server and remove a temporary directory. Safe to call twice."""
        self._stop_servers()
        if self._own_directory and self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory = None

    def _start_servers(self, plan: _Plan) -> None:
        assert self.directory is not None
        for server_class, address, options in plan.servers:
            server = server_class(address, self.port, **options)
            self._servers.append(server)
            server.start()
        self._nginx = NginxServer(self.directory / "nginx", self.port, plan.sites)
        self._nginx.start()

    def _stop_servers(self) -> None:
        if self._nginx is not None:
            self._nginx.stop()
            self._nginx = None
        for server in self._servers:
            server.stop()
        self._servers = []

    def _allocate_address(self) -> str:
        if self._next_host > 254:
            raise TlsTestBedError(f"more than 254 addresses requested in {self.address_prefix}0/24")
        address = f"{self.address_prefix}{self._next_host}"
        self._next_host += 1
        return address

    def _all_addresses(self) -> list[str]:
        return [f"{self.address_prefix}{host}" for host in range(1, self._next_host)]

    def _plan(self, now: datetime) -> _Plan:
        plan = _Plan()
        self._plan_certificate_cases(plan, now)
        self._plan_protocol_cases(plan, now)
        self._plan_failure_cases(plan)
        self._plan_mail_cases(plan, now)
        plan.targets.append((NXDOMAIN_NAME, None, _failed("resolve", "nxdomain"), "none"))
        plan.targets.append((NO_ADDRESS_NAME, None, _failed("resolve", "no_address"), "none"))
        return plan

    def _issue(self, plan: _Plan, spec: LeafSpec) -> IssuedCertificate:
        assert self.ca is not None
        certificate = self.ca.issue(spec)
        plan.certificates[spec.name] = certificate
        return certificate

    def _plan_certificate_cases(self, plan: _Plan, now: datetime) -> None:
        """Plan one nginx site per certificate property, each on its own address."""
        year = timedelta(days=365)

        def leaf(case: str, **options: object) -> LeafSpec:
            name = f"{case}.{ZONE}"
            values: dict[str, object] = {
                "name": case,
                "common_name": name,
                "sans": (f"DNS:{name}",),
                "not_before": now - timedelta(days=30),
                "not_after": now + year,
            }
            values.update(options)
            return LeafSpec(**values)  # type: ignore[arg-type]

        def serve(
            spec: LeafSpec,
            expected: Expected,
            *,
            name: str | None = None,
            address: str | None = None,
            **site: object,
        ) -> tuple[str, IssuedCertificate]:
            address = address or self._allocate_address()
            certificate = self._issue(plan, spec)
            name = name or f"{spec.name}.{ZONE}"
            plan.sites.append(NginxSite(address, name, certificate, **site))  # type: ignore[arg-type]
            chain_length = 1 if spec.self_signed or site.get("serve_chain") is False else 2
            plan.targets.append(
                (
                    name,
                    address,
                    replace(expected, certificate=certificate, chain_length=chain_length),
                    "none",
                )
            )
            return address, certificate

        valid = Expected("valid", trusted=True, hostname_match=True)

        valid_address = self._allocate_address()
        address, certificate = serve(
            leaf(
                "valid",
                sans=(
                    f"DNS:valid.{ZONE}",
                    f"DNS:www.valid.{ZONE}",
                    f"IP:{valid_address}",
                    f"email:hostmaster@valid.{ZONE}",
                    f"URI:https://valid.{ZONE}/",
                ),
            ),
            replace(valid, alpn="h2"),
            address=valid_address,
            http2=True,
        )
        # An IP-literal target: the certificate's IP SAN matches, and no SNI is sent.
        plan.targets.append(
            (address, address, replace(valid, certificate=certificate, chain_length=2), "none")
        )

        stapled_spec = leaf("stapled")
        stapled_address = self._allocate_address()
        stapled = self._issue(plan, stapled_spec)
        assert self.ca is not None
        plan.sites.append(
            NginxSite(
                stapled_address,
                f"stapled.{ZONE}",
                stapled,
                ocsp_response=self.ca.ocsp_response(stapled),
            )
        )
        plan.targets.append(
            (
                f"stapled.{ZONE}",
                stapled_address,
                replace(valid, certificate=stapled, chain_length=2, ocsp_stapled=True),
                "none",
            )
        )

        expiring = Expected("expiring_soon", trusted=True, hostname_match=True)
        serve(
            leaf(
                "expiring5", not_before=now - timedelta(days=85), not_after=now + timedelta(days=5)
            ),
            replace(expiring, findings=frozenset({"expiring_soon"})),
        )
        serve(
            leaf(
                "expiring20",
                not_before=now - timedelta(days=70),
                not_after=now + timedelta(days=20),
            ),
            replace(expiring, findings=frozenset({"expiring_soon"})),
        )
        serve(
            leaf(
                "expired", not_before=now - timedelta(days=100), not_after=now - timedelta(days=2)
            ),
            Expected("expired", trusted=True, findings=frozenset({"expired"})),
        )
        serve(
            leaf("notyetvalid", not_before=now + timedelta(days=10), not_after=now + year),
            Expected("not_yet_valid", trusted=True, findings=frozenset({"not_yet_valid"})),
        )
        serve(
            leaf("selfsigned", self_signed=True),
            Expected(
                "untrusted",
                trusted=False,
                hostname_match=True,
                findings=frozenset({"untrusted", "self_signed"}),
            ),
        )
        mismatch = Expected(
            "hostname_mismatch",
            trusted=True,
            hostname_match=False,
            findings=frozenset({"hostname_mismatch"}),
        )
        wrong_address, wrong = serve(
            leaf("wronghost", common_name=f"other.{ZONE}", sans=(f"DNS:other.{ZONE}",)),
            mismatch,
        )
        # The wrong-host certificate has no IP SAN, so its address does not match either.
        wrong_by_address = replace(mismatch, certificate=wrong, chain_length=2)
        plan.targets.append((wrong_address, wrong_address, wrong_by_address, "none"))

        # RFC 6125 section 6.4.3: "*" matches exactly one whole leftmost label, so
        # neither the zone apex nor a name two labels deeper matches.
        wildcard_address, wildcard = serve(
            leaf(
                "wildcard",
                common_name=f"*.wildcard.{ZONE}",
                sans=(f"DNS:*.wildcard.{ZONE}",),
            ),
            valid,
            name=f"www.wildcard.{ZONE}",
        )
        wildcard_mismatch = replace(mismatch, certificate=wildcard, chain_length=2)
        for name in (f"wildcard.{ZONE}", f"deep.www.wildcard.{ZONE}"):
            plan.targets.append((name, wildcard_address, wildcard_mismatch, "none"))

        serve(leaf("sanonly", common_name=None), valid)
        serve(leaf("rsa1024", key="rsa1024"), replace(valid, findings=frozenset({"weak_key"})))
        serve(leaf("ecdsa256", key="p256"), valid)
        serve(leaf("ecdsa384", key="p384"), valid)
        serve(leaf("ed25519", key="ed25519"), valid)
        serve(leaf("sha1", digest="sha1"), replace(valid, findings=frozenset({"weak_signature"})))
        serve(
            leaf("nointermediate"),
            Expected(
                "untrusted", trusted=False, hostname_match=True, findings=frozenset({"untrusted"})
            ),
            serve_chain=False,
        )
        serve(
            leaf("year2051", not_after=datetime(2051, 6, 1, 12, 0, 0, tzinfo=timezone.utc)), valid
        )
        serve(leaf("negserial", serial=-0x7A3F00112233445566), valid)

    def _plan_protocol_cases(self, plan: _Plan, now: datetime) -> None:
        """Plan a TLS 1.3-only site and a site that rejects unknown SNI names."""
        spec = LeafSpec(
            name="tls13only",
            common_name=f"tls13only.{ZONE}",
            sans=(f"DNS:tls13only.{ZONE}",),
            not_before=now - timedelta(days=30),
            not_after=now + timedelta(days=365),
        )
        certificate = self._issue(plan, spec)
        address = self._allocate_address()
        plan.sites.append(
            NginxSite(address, f"tls13only.{ZONE}", certificate, protocols=("TLSv1.3",))
        )
        plan.targets.append(
            (
                f"tls13only.{ZONE}",
                address,
                Expected(
                    "valid",
                    trusted=True,
                    hostname_match=True,
                    protocol="TLSv1.3",
                    certificate=certificate,
                    chain_length=2,
                ),
                "none",
            )
        )

        strict_name = f"sni-strict.{ZONE}"
        spec = LeafSpec(
            name="sni-strict",
            common_name=strict_name,
            sans=(f"DNS:{strict_name}",),
            not_before=now - timedelta(days=30),
            not_after=now + timedelta(days=365),
        )
        certificate = self._issue(plan, spec)
        address = self._allocate_address()
        plan.sites.append(NginxSite(address, "_", None, reject_handshake=True))
        plan.sites.append(NginxSite(address, strict_name, certificate))
        plan.targets.append(
            (
                strict_name,
                address,
                Expected(
                    "valid",
                    trusted=True,
                    hostname_match=True,
                    certificate=certificate,
                    chain_length=2,
                ),
                "none",
            )
        )
        plan.targets.append(
            (
                f"unknown-sni.{ZONE}",
                address,
                _failed("handshake", "tls_alert", alert="unrecognized_name"),
                "none",
            )
        )

    def _plan_failure_cases(self, plan: _Plan) -> None:
        """Plan servers that break the connection or the handshake, and a refused port."""
        cases: list[tuple[str, type[misbehaving.LoopbackServer], dict[str, object], Expected]] = [
            ("silent", misbehaving.SilentServer, {}, _failed("handshake", "handshake_timeout")),
            (
                "close-after-hello",
                misbehaving.CloseAfterHelloServer,
                {},
                _failed("handshake", "connection_closed"),
            ),
            (
                "reset-after-hello",
                misbehaving.CloseAfterHelloServer,
                {"reset": True},
                _failed("handshake", "connection_reset"),
            ),
            ("garbage", misbehaving.GarbageServer, {}, _failed("handshake", "protocol_error")),
        ]
        for case, server_class, options, expected in cases:
            address = self._allocate_address()
            plan.servers.append((server_class, address, options))
            plan.targets.append((f"{case}.{ZONE}", address, expected, "none"))

        address = self._allocate_address()
        plan.targets.append(
            (f"refused.{ZONE}", address, _failed("connect", "connection_refused"), "none")
        )

    def _plan_mail_cases(self, plan: _Plan, now: datetime) -> None:
        """Plan SMTP, IMAP and POP3 servers with and without STARTTLS, and the trickler."""
        mail_names = [f"{case}.{ZONE}" for case in ("smtp", "imap", "pop3", "trickle")]
        spec = LeafSpec(
            name="mail",
            common_name=mail_names[0],
            sans=tuple(f"DNS:{name}" for name in mail_names),
            not_before=now - timedelta(days=30),
            not_after=now + timedelta(days=365),
        )
        certificate = self._issue(plan, spec)
        context = misbehaving.server_context(certificate)
        valid = Expected(
            "valid", trusted=True, hostname_match=True, certificate=certificate, chain_length=2
        )

        address = self._allocate_address()
        plan.servers.append((misbehaving.TrickleServer, address, {"context": context}))
        plan.targets.append(
            (f"trickle.{ZONE}", address, _failed("handshake", "handshake_timeout"), "none")
        )

        smtp_cases = [
            ("smtp", "starttls", replace(valid, banner_prefix=f"220 smtp.{ZONE}")),
            (
                "smtp-nostarttls",
                "no_starttls",
                _failed(
                    "starttls", "starttls_not_offered", banner_prefix=f"220 smtp-nostarttls.{ZONE}"
                ),
            ),
            (
                "smtp-reject",
                "reject_starttls",
                _failed("starttls", "starttls_rejected"),
            ),
            (
                "smtp-unavailable",
                "unavailable",
                _failed(
                    "starttls",
                    "transient",
                    transient=True,
                    banner_prefix=f"421 4.3.2 smtp-unavailable.{ZONE}",
                ),
            ),
            ("smtp-flood", "flood", _failed("starttls", "too_much_data")),
        ]
        for case, mode, expected in smtp_cases:
            address = self._allocate_address()
            name = f"{case}.{ZONE}"
            options: dict[str, object] = {"hostname": name, "mode": mode, "context": context}
            plan.servers.append((misbehaving.SmtpServer, address, options))
            plan.targets.append((name, address, expected, "smtp"))

        for case, server_class in (
            ("imap", misbehaving.ImapServer),
            ("pop3", misbehaving.Pop3Server),
        ):
            address = self._allocate_address()
            name = f"{case}.{ZONE}"
            plan.servers.append((server_class, address, {"hostname": name, "context": context}))
            plan.targets.append((name, address, valid, case))


def _failed(stage: str, reason: str, **details: object) -> Expected:
    return Expected("failed", stage=stage, reason=reason, **details)  # type: ignore[arg-type]


def _free_port(addresses: list[str]) -> int:
    """Return a port the kernel lets us bind on every address in ``addresses``.

    Another process can still take the port before the servers bind it, so the
    caller retries on "address in use".
    """
    for _attempt in range(20):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind((addresses[0], 0))
            port = probe.getsockname()[1]
        if all(_can_bind(address, port) for address in addresses):
            return port
    raise TlsTestBedError(
        f"no port is free on all of {addresses[0]}..{addresses[-1]}: "
        "stop other test beds or choose another address_prefix"
    )


def _can_bind(address: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((address, port))
        except OSError:
            return False
    return True
