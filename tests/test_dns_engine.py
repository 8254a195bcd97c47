"""Tests of ``_core.dns_query`` and ``_core.normalize_domain`` against a responder on loopback.

The responder is built here with dnspython: UDP and TCP on 127.0.0.1 with a
kernel-chosen port, responding by query name (see ``_answer``).
"""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Iterator

import dns.flags
import dns.message
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import pytest

from dnsscience import _core
from dnsscience.errors import DnsScienceError, InvalidArgumentError


def _answer(query: dns.message.Message, tcp: bool) -> dns.message.Message | None:
    """Build the response to ``query``, or None to stay silent."""
    question = query.question[0]
    name = question.name.to_text(omit_final_dot=True).lower()
    response = dns.message.make_response(query)

    def add(owner: str, rdtype: str, *texts: str) -> None:
        response.answer.append(dns.rrset.from_text(owner + ".", 300, "IN", rdtype, *texts))

    if name == "silent.test":
        return None
    if name == "nx.test":
        response.set_rcode(dns.rcode.NXDOMAIN)
    elif name == "fail.test":
        response.set_rcode(dns.rcode.SERVFAIL)
    elif name == "deny.test":
        response.set_rcode(dns.rcode.REFUSED)
    elif name == "empty.test":
        pass
    elif name == "alias.test":
        add("alias.test", "CNAME", "target.test.")
        add("target.test", "A", "192.0.2.80")
    elif name == "mx.test":
        add("mx.test", "MX", "10 Mail.MX.test.", "0 .")
    elif name == "signed.test":
        add("signed.test", "TXT", '"v=spf1 -all"')
        response.flags |= dns.flags.AD
    elif name == "octets.test":
        add("octets.test", "TXT", '"caf\\233"')
    elif name == "big.test":
        if not tcp:
            response.flags |= dns.flags.TC
        else:
            add("big.test", "TXT", *[f'"{chr(97 + i) * 100}"' for i in range(20)])
    else:
        add(name, "TXT", '"v=spf1 include:a.example "  "-all"')
    return response


class Responder:
    """A DNS responder on 127.0.0.1 (UDP and TCP on one port) driven by ``_answer``."""

    def __init__(self) -> None:
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("127.0.0.1", 0))
        self.port = self.udp.getsockname()[1]
        self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.tcp.bind(("127.0.0.1", self.port))
        self.tcp.listen(16)
        self.udp_queries = 0
        self.tcp_queries = 0
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._serve_udp, daemon=True),
            threading.Thread(target=self._serve_tcp, daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _serve_udp(self) -> None:
        self.udp.settimeout(0.1)
        while not self._stop.is_set():
            try:
                data, peer = self.udp.recvfrom(65535)
            except TimeoutError:
                continue
            except OSError:
                return
            self.udp_queries += 1
            response = _answer(dns.message.from_wire(data), tcp=False)
            if response is not None:
                self.udp.sendto(response.to_wire(max_size=65535), peer)

    def _serve_tcp(self) -> None:
        self.tcp.settimeout(0.1)
        while not self._stop.is_set():
            try:
                client, _ = self.tcp.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with client:
                client.settimeout(2)
                header = client.recv(2, socket.MSG_WAITALL)
                if len(header) < 2:
                    continue
                (length,) = struct.unpack("!H", header)
                data = client.recv(length, socket.MSG_WAITALL)
                self.tcp_queries += 1
                response = _answer(dns.message.from_wire(data), tcp=True)
                if response is not None:
                    wire = response.to_wire(max_size=65535)
                    client.sendall(struct.pack("!H", len(wire)) + wire)

    def close(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()
        self.udp.close()
        self.tcp.close()


@pytest.fixture(scope="module")
def responder() -> Iterator[Responder]:
    server = Responder()
    yield server
    server.close()


def query(responder: Responder, name: str, rrtype: str = "TXT", **options: float) -> dict:
    return _core.dns_query(name, rrtype, [responder.address], **options)


def test_txt_keeps_character_strings(responder: Responder) -> None:
    answer = query(responder, "Data.TEST.")
    assert answer["status"] == "data"
    assert answer["qname"] == "data.test"
    assert answer["rcode"] == 0
    assert answer["server"] == responder.address
    assert answer["tries"] == 1
    assert answer["error"] is None
    assert len(answer["records"]) == 1
    record = answer["records"][0]
    assert record["type"] == "TXT"
    assert record["ttl"] == 300
    assert record["strings"] == ["v=spf1 include:a.example ", "-all"]


@pytest.mark.parametrize(
    ("name", "status", "rcode"),
    [
        ("empty.test", "nodata", 0),
        ("nx.test", "nxdomain", 3),
        ("fail.test", "servfail", 2),
        ("deny.test", "refused", 5),
    ],
)
def test_status_per_rcode(responder: Responder, name: str, status: str, rcode: int) -> None:
    answer = query(responder, name)
    assert answer["status"] == status
    assert answer["rcode"] == rcode
    assert answer["records"] == []


def test_mx_lowercased_and_null_mx(responder: Responder) -> None:
    answer = query(responder, "mx.test", "mx")
    assert answer["status"] == "data"
    # dnspython writes an rdataset in its own order, so compare as a set.
    pairs = {(record["preference"], record["target"]) for record in answer["records"]}
    assert pairs == {(10, "mail.mx.test"), (0, "")}


def test_cname_chain_followed(responder: Responder) -> None:
    answer = query(responder, "alias.test", "A")
    assert answer["status"] == "data"
    assert answer["cname_chain"] == ["alias.test"]
    assert [record["name"] for record in answer["records"]] == ["target.test"]
    assert answer["records"][0]["address"] == "192.0.2.80"


def test_ad_bit_reported(responder: Responder) -> None:
    assert query(responder, "signed.test")["authenticated_data"] is True
    assert query(responder, "data.test")["authenticated_data"] is False


def test_truncated_answer_retried_over_tcp(responder: Responder) -> None:
    tcp_before = responder.tcp_queries
    answer = query(responder, "big.test")
    assert answer["status"] == "data"
    assert answer["truncated_retried_over_tcp"] is True
    assert len(answer["records"]) == 20
    texts = sorted(record["strings"][0] for record in answer["records"])
    assert texts == [chr(97 + i) * 100 for i in range(20)]
    assert responder.tcp_queries == tcp_before + 1


def test_non_utf8_txt_round_trips(responder: Responder) -> None:
    (record,) = query(responder, "octets.test")["records"]
    assert record["strings"][0].encode("utf-8", "surrogateescape") == b"caf\xe9"
    assert record["rdata"] == b"\x04caf\xe9"


def test_silent_server_times_out(responder: Responder) -> None:
    udp_before = responder.udp_queries
    answer = query(responder, "silent.test", timeout=0.3, tries=3)
    assert answer["status"] == "timeout"
    assert answer["rcode"] is None
    assert answer["tries"] == 3
    assert answer["error"]
    # Generous bound for a loaded machine; the deadline itself is 300 ms.
    assert 250 <= answer["elapsed_ms"] < 1500
    assert responder.udp_queries - udp_before == 3


def test_retry_moves_to_next_nameserver(responder: Responder) -> None:
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))
    try:
        silent_address = f"127.0.0.1:{silent.getsockname()[1]}"
        answer = _core.dns_query(
            "data.test", "TXT", [silent_address, responder.address], timeout=1.0, tries=2
        )
    finally:
        silent.close()
    assert answer["status"] == "data"
    assert answer["server"] == responder.address
    assert answer["tries"] == 2


@pytest.mark.parametrize(
    ("arguments", "fragment"),
    [
        (("data.test", "SPF", ["127.0.0.1"]), "invalid rrtype 'SPF'"),
        (("data.test", "TXT", ["resolver.example"]), "invalid nameserver 'resolver.example'"),
        (("data.test", "TXT", ["127.0.0.1:99999"]), "invalid nameserver '127.0.0.1:99999'"),
        (("a..test", "TXT", ["127.0.0.1"]), "invalid domain name 'a..test'"),
    ],
)
def test_bad_arguments_raise(arguments: tuple, fragment: str) -> None:
    with pytest.raises(InvalidArgumentError, match=fragment) as raised:
        _core.dns_query(*arguments)
    assert isinstance(raised.value, ValueError)


def test_bad_timeout_raises(responder: Responder) -> None:
    with pytest.raises(InvalidArgumentError, match="timeout"):
        query(responder, "data.test", timeout=0)
    with pytest.raises(InvalidArgumentError, match="tries"):
        query(responder, "data.test", tries=0)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Example.COM.", "example.com"),
        ("_dmarc.Example.com", "_dmarc.example.com"),
        ("bücher.example", "xn--bcher-kva.example"),
        ("faß.de", "xn--fa-hia.de"),
    ],
)
def test_normalize_domain(name: str, expected: str) -> None:
    assert _core.normalize_domain(name) == expected


@pytest.mark.parametrize(
    "name", ["", "a..b", "x" * 64 + ".com", "bad name.com", ".".join(["a" * 63] * 4)]
)
def test_normalize_domain_rejects(name: str) -> None:
    with pytest.raises(InvalidArgumentError, match="invalid domain name") as raised:
        _core.normalize_domain(name)
    assert isinstance(raised.value, ValueError)
    assert isinstance(raised.value, DnsScienceError)
    assert "pass a name such as example.com" in str(raised.value)


def test_batch_session_class_registered() -> None:
    # Factories of the email and TLS bindings create instances; Python cannot.
    assert {"submit", "poll", "stop_new", "close", "queued", "in_flight", "completed"} <= set(
        dir(_core.BatchSession)
    )
    with pytest.raises(TypeError):
        _core.BatchSession()
