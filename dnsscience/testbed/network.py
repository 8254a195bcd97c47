"""Loopback helpers for the test bed: free ports, IPv6 detection and a DNS probe.

The probe builds its query by hand so that starting Knot or unbound does not
depend on dnspython; only the purpose-built responder needs it.
"""

from __future__ import annotations

import logging
import os
import socket
import struct
import time

logger = logging.getLogger(__name__)

__all__ = [
    "LOOPBACK_IPV4",
    "LOOPBACK_IPV6",
    "format_nameserver",
    "free_port",
    "ipv6_loopback_available",
    "probe_dns",
    "wait_for_dns",
]

LOOPBACK_IPV4 = "127.0.0.1"
LOOPBACK_IPV6 = "::1"

RRTYPE_SOA = 6


def ipv6_loopback_available() -> bool:
    """Return whether a socket can bind to ``::1``."""
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as probe:
            probe.bind((LOOPBACK_IPV6, 0))
    except OSError:
        return False
    return True


def _port_is_free(port: int, include_ipv6: bool) -> bool:
    addresses = [(socket.AF_INET, LOOPBACK_IPV4)]
    if include_ipv6:
        addresses.append((socket.AF_INET6, LOOPBACK_IPV6))
    for family, address in addresses:
        for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
            with socket.socket(family, kind) as candidate:
                try:
                    candidate.bind((address, port))
                except OSError:
                    return False
    return True


def free_port(include_ipv6: bool = False) -> int:
    """Return a port that is free for both UDP and TCP on loopback.

    The kernel picks the number, so it lies in the ephemeral range. Another
    process can still take the port before the caller binds it. The server's
    start then fails or times out, and the error includes the server's log.
    """
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as chooser:
            chooser.bind((LOOPBACK_IPV4, 0))
            port = chooser.getsockname()[1]
        if _port_is_free(port, include_ipv6):
            return port
    raise OSError("no loopback port was free for both UDP and TCP after 50 attempts")


def format_nameserver(host: str, port: int) -> str:
    """Return ``host:port``, with brackets around an IPv6 address."""
    if ":" in host:
        return f"[{host}]:{port}"
    return f"{host}:{port}"


def _encode_name(name: str) -> bytes:
    wire = b""
    for label in name.rstrip(".").split("."):
        if label:
            encoded = label.encode("ascii")
            wire += bytes([len(encoded)]) + encoded
    return wire + b"\x00"


def probe_dns(
    host: str,
    port: int,
    name: str,
    rrtype: int = RRTYPE_SOA,
    timeout: float = 0.5,
    recursion_desired: bool = False,
) -> int | None:
    """Send one UDP query and return the response's RCODE, or None without a response."""
    query_id = int.from_bytes(os.urandom(2), "big")
    # Header: ID, flags (only RD may be set), one question, no other sections.
    flags = 0x0100 if recursion_desired else 0
    query = struct.pack("!HHHHHH", query_id, flags, 1, 0, 0, 0)
    query += _encode_name(name) + struct.pack("!HH", rrtype, 1)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as client:
        client.settimeout(timeout)
        try:
            client.sendto(query, (host, port))
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                response = client.recv(65535)
                if len(response) >= 12 and int.from_bytes(response[:2], "big") == query_id:
                    return response[3] & 0x0F
        except OSError:
            return None
    return None


def wait_for_dns(
    host: str,
    port: int,
    names: list[str],
    timeout: float,
    is_alive: object = None,
    expected_rcode: int = 0,
    recursion_desired: bool = False,
) -> None:
    """Wait until every name in ``names`` returns ``expected_rcode`` for SOA.

    ``is_alive`` is an optional callable that returns False once the server
    process has exited or reported a fatal error, so the wait fails at once
    instead of at the timeout.
    Raises TimeoutError naming the first name without the expected response.
    """
    deadline = time.monotonic() + timeout
    pending = list(names)
    while pending:
        if callable(is_alive) and not is_alive():
            raise RuntimeError(
                f"the DNS server on {format_nameserver(host, port)} exited or failed to load a zone"
            )
        rcode = probe_dns(host, port, pending[0], recursion_desired=recursion_desired)
        if rcode == expected_rcode:
            pending.pop(0)
            continue
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"{format_nameserver(host, port)} did not respond to SOA {pending[0]} "
                f"with RCODE {expected_rcode} within {timeout:.0f} s"
            )
        time.sleep(0.05)
