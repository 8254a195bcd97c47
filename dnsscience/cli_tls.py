"""The ``dnsscience tls`` subcommand: probe TLS servers and print their certificates.

:func:`add_tls_parser` adds it to the ``dnsscience`` command line. Its handler
returns 0 when every target presented a certificate and 1 when at least one
probe failed (no certificate). A certificate with findings, even an expired one,
still counts as probed.
"""

from __future__ import annotations

import argparse
import json
import sys

from dnsscience.tls import STARTTLS_PROTOCOLS, TlsResult, scan_tls_many

__all__ = ["add_tls_parser", "format_result", "run_tls"]

EXIT_OK = 0
EXIT_FAILED = 1


def add_tls_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``tls`` to ``subparsers`` and return its parser."""
    parser = subparsers.add_parser(
        "tls",
        help="probe TLS servers and judge their certificates",
        description="Probe each TARGET (host, host:port or [IPv6]:port) and print its "
        "certificate, verification result and findings. The handshake accepts any "
        "certificate; trust and the host name are judged afterwards.",
    )
    parser.add_argument("targets", nargs="+", metavar="TARGET")
    parser.add_argument(
        "--port", type=int, default=443, help="port of targets given without one (443)"
    )
    parser.add_argument("--sni", help="server name to send instead of the target's host name")
    parser.add_argument(
        "--starttls",
        choices=STARTTLS_PROTOCOLS,
        help="plaintext dialogue before the handshake; default: what the port implies "
        "(25 and 587 SMTP, 143 IMAP, 110 POP3)",
    )
    parser.add_argument(
        "--ca-file", metavar="PEM", help="trust anchors to verify against; default: system store"
    )
    parser.add_argument(
        "--nameserver",
        action="append",
        metavar="IP:PORT",
        help="nameserver for resolving targets (repeatable); "
        "default: DNSSCIENCE_NAMESERVERS, else the system resolver",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=5.0,
        help="deadline in seconds of each of connect, STARTTLS dialogue and handshake (5)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object per line")
    parser.set_defaults(handler=run_tls)
    return parser


def _split_target(text: str, default_port: int) -> dict[str, object]:
    # "[v6]:port" and "host:port" carry a port; a bare IPv6 literal has several colons.
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = int(rest[1:]) if rest.startswith(":") else default_port
        return {"host": host, "port": port}
    if text.count(":") == 1:
        host, port_text = text.split(":")
        if not port_text.isdigit():
            raise ValueError(f"invalid port {port_text!r} in target {text!r}: use host:port")
        return {"host": host, "port": int(port_text)}
    return {"host": text, "port": default_port}


def format_result(result: TlsResult) -> str:
    """Return a few indented lines describing one result, for people to read."""
    via = f" via {result.starttls.upper()}" if result.starttls != "none" else ""
    lines = [f"{result.host}:{result.port} ({result.address or 'no address'}){via}"]
    lines.append(f"  status:   {result.status}")
    if result.error is not None:
        lines.append(
            f"  error:    {result.error.stage}: {result.error.reason} ({result.error.detail})"
        )
    if result.banner:
        lines.append(f"  banner:   {result.banner.splitlines()[0]}")
    certificate = result.certificate
    if certificate is not None:
        lines.append(f"  protocol: {result.protocol}, {result.cipher}")
        lines.append(f"  subject:  CN={certificate.subject_cn}, O={certificate.subject_o}")
        lines.append(f"  issuer:   CN={certificate.issuer_cn}, O={certificate.issuer_o}")
        names = ", ".join(f"{san.type}:{san.value}" for san in certificate.sans) or "none"
        lines.append(f"  names:    {names}")
        lines.append(f"  valid:    {certificate.not_before} to {certificate.not_after}")
        key = f"{certificate.key_type} {certificate.key_bits or ''}".strip()
        if certificate.key_curve:
            key += f" ({certificate.key_curve})"
        lines.append(f"  key:      {key}, signed with {certificate.signature_algorithm}")
        lines.append(f"  serial:   {certificate.serial}")
        lines.append(f"  sha256:   {certificate.sha256_fingerprint}")
        trust = "trusted" if result.trusted else f"not trusted ({result.verify_error})"
        lines.append(f"  chain:    {len(result.chain)} certificates, {trust}")
    for finding in result.findings:
        lines.append(f"  {finding.severity:<9}{finding.code}: {finding.message}")
    return "\n".join(lines)


def run_tls(arguments: argparse.Namespace) -> int:
    """Probe the targets of ``arguments`` and print each result as it completes."""
    targets = []
    for text in arguments.targets:
        target = _split_target(text, arguments.port)
        if arguments.sni is not None:
            target["sni"] = arguments.sni
        if arguments.starttls is not None:
            target["starttls"] = arguments.starttls
        targets.append(target)

    status = EXIT_OK
    results = scan_tls_many(
        targets,
        nameservers=arguments.nameserver,
        ca_file=arguments.ca_file,
        timeout=arguments.timeout,
    )
    for result in results:
        if arguments.json:
            sys.stdout.write(json.dumps(result.to_dict(), sort_keys=True) + "\n")
        else:
            sys.stdout.write(format_result(result) + "\n")
        sys.stdout.flush()
        if result.failed:
            status = EXIT_FAILED
    return status
