"""Purpose-built DNS responder for behaviour an authoritative server will not produce.

The responder listens on UDP and TCP on loopback and applies rules to each query
name: no response at all (a timeout), SERVFAIL, REFUSED, NXDOMAIN (also for an
empty non-terminal that has children), a fixed answer such as a CNAME beside
other data at one name, and a per-rule delay. Queries that match no rule are
forwarded to an upstream server (the test bed's Knot) and the response is held
for ``delay_ms`` before it is sent, which models a slow network path. Holding
uses asyncio timers, so thousands of queries per second can wait at once: with
``delay_ms=30``, ``dnsperf -q 500`` measured about 4,800 queries per second and
no loss on a 2-core VM that was also compiling (one responder process).

Rules are a JSON list (``--rules FILE`` holds ``{"rules": [...]}``). Each rule:

- ``name``: the query name; ``subtree`` (default false) also matches names below it.
- ``action``: "timeout", "servfail", "refused", "nxdomain", "answer" or "forward".
- ``records`` (for "answer"): list of ``{"type", "value", "ttl"?, "name"?}`` in
  presentation format; the owner defaults to the rule's name. The answer holds
  the records of the query type plus every CNAME.
- ``delay_ms`` (optional): overrides the global delay for this rule.

The first matching rule in list order wins. Run it with
``python -m dnsscience.testbed.responder --port P --upstream 127.0.0.1:K
--delay-ms D --rules FILE``; it prints ``ready PORT`` on stdout once listening.
``Responder`` starts and stops that subprocess.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import select
import signal
import socket
import struct
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from dnsscience.testbed.network import LOOPBACK_IPV4, format_nameserver, free_port
from dnsscience.testbed.process import LoopbackDnsServer, ManagedProcess

logger = logging.getLogger(__name__)

__all__ = ["DEFAULT_RULES", "RESPONDER_ZONES", "Responder", "Rule", "parse_rules"]

ACTIONS = ("timeout", "servfail", "refused", "nxdomain", "answer", "forward")
# Zones the default rules serve; a resolver needs stub zones for them.
RESPONDER_ZONES = ("responder.test", "timeout.test")
UPSTREAM_TIMEOUT = 3.0
START_TIMEOUT = 15.0
SOCKET_BUFFER_BYTES = 4 * 1024 * 1024

DEFAULT_RULES: list[dict] = [
    {"name": "timeout.test", "subtree": True, "action": "timeout"},
    {"name": "timeout.responder.test", "action": "timeout"},
    {"name": "servfail.responder.test", "action": "servfail"},
    {"name": "refused.responder.test", "action": "refused"},
    {
        "name": "slow.responder.test",
        "action": "answer",
        "delay_ms": 400,
        "records": [{"type": "A", "value": "192.0.2.80"}],
    },
    {
        # Forbidden by RFC 1034 section 3.6.2, which some servers send anyway.
        "name": "cname-and-txt.responder.test",
        "action": "answer",
        "records": [
            {"type": "CNAME", "value": "target.responder.test."},
            {"type": "TXT", "value": '"v=spf1 -all"'},
        ],
    },
    {
        "name": "target.responder.test",
        "action": "answer",
        "records": [{"type": "TXT", "value": '"v=spf1 ip4:192.0.2.0/24 -all"'}],
    },
    {
        "name": "child.ent.responder.test",
        "action": "answer",
        "records": [{"type": "TXT", "value": '"child of an empty non-terminal"'}],
    },
    # RFC 8020 says an empty non-terminal must not be NXDOMAIN; some servers return it.
    {"name": "ent.responder.test", "action": "nxdomain"},
    {"name": "responder.test", "subtree": True, "action": "nxdomain"},
]


@dataclass
class Rule:
    """One parsed responder rule."""

    name: str
    action: str
    subtree: bool = False
    delay_ms: float | None = None
    records: list = field(default_factory=list)  # dns.rrset.RRset

    def matches(self, qname: str) -> bool:
        return qname == self.name or (self.subtree and qname.endswith("." + self.name))


def parse_rules(rules: list[dict]) -> list[Rule]:
    """Validate rule dicts and return ``Rule`` objects; raises ValueError naming the rule."""
    parsed = []
    for index, rule in enumerate(rules):
        name = str(rule.get("name", "")).lower().rstrip(".")
        action = rule.get("action")
        if not name:
            raise ValueError(f"responder rule {index} has no name: set 'name' to a query name")
        if action not in ACTIONS:
            raise ValueError(
                f"responder rule {index} ({name}) has action {action!r}; use one of {', '.join(ACTIONS)}"
            )
        rrsets: dict[tuple[str, int], dns.rrset.RRset] = {}
        for record in rule.get("records", []):
            owner = str(record.get("name", name)).lower().rstrip(".")
            rrtype = dns.rdatatype.from_text(record["type"])
            rdata = dns.rdata.from_text(dns.rdataclass.IN, rrtype, record["value"])
            key = (owner, rrtype)
            if key not in rrsets:
                rrsets[key] = dns.rrset.RRset(dns.name.from_text(owner), dns.rdataclass.IN, rrtype)
            rrsets[key].add(rdata, int(record.get("ttl", 300)))
        if action == "answer" and not rrsets:
            raise ValueError(f"responder rule {index} ({name}) has action 'answer' but no records")
        delay = rule.get("delay_ms")
        parsed.append(
            Rule(
                name=name,
                action=action,
                subtree=bool(rule.get("subtree", False)),
                delay_ms=None if delay is None else float(delay),
                records=list(rrsets.values()),
            )
        )
    return parsed


def _parse_host_port(text: str) -> tuple[str, int]:
    host, separator, port = text.rpartition(":")
    if not separator or not port.isdigit():
        raise ValueError(f"address {text!r} is invalid: use HOST:PORT such as 127.0.0.1:5353")
    return host.strip("[]"), int(port)


def _question_name(wire: bytes) -> str | None:
    """Return the lower-case query name of a DNS message, or None if it is malformed.

    Reads the labels directly, which is several times faster than a full parse
    and matters in proxy mode. A question name never uses compression (it is the
    first name in the message), so a pointer makes the query malformed.
    """
    if len(wire) < 12 or wire[4:6] != b"\x00\x01":
        return None
    labels = []
    offset = 12
    while offset < len(wire):
        length = wire[offset]
        if length == 0:
            return ".".join(labels).lower()
        if length > 63:
            return None
        labels.append(wire[offset + 1 : offset + 1 + length].decode("ascii", errors="replace"))
        offset += 1 + length
    return None


def _enlarge_buffers(transport: asyncio.BaseTransport) -> None:
    """Ask for 4 MiB socket buffers, so bursts in proxy mode are not dropped by the kernel.

    The kernel caps the size at net.core.rmem_max and wmem_max.
    """
    sock = transport.get_extra_info("socket")
    for option in (socket.SO_RCVBUF, socket.SO_SNDBUF):
        try:
            sock.setsockopt(socket.SOL_SOCKET, option, SOCKET_BUFFER_BYTES)
        except OSError as error:
            logger.warning("could not enlarge a socket buffer: %s", error)


class ResponderServer:
    """The asyncio server inside the responder process."""

    def __init__(
        self, rules: list[Rule], upstream: tuple[str, int] | None, delay_ms: float
    ) -> None:
        self.rules = rules
        self.upstream = upstream
        self.delay = delay_ms / 1000.0
        self.loop: asyncio.AbstractEventLoop | None = None
        self._udp_transport: asyncio.DatagramTransport | None = None
        self._upstream_transport: asyncio.DatagramTransport | None = None
        # Upstream query ID -> (callback that sends the response to the client, timer).
        self._pending: dict[int, tuple[Callable[[bytes], None], asyncio.TimerHandle, bytes]] = {}
        self._next_id = 0
        self.malformed_queries = 0
        self.upstream_timeouts = 0

    # Rule handling --------------------------------------------------------

    def _find_rule(self, qname: str) -> Rule | None:
        for rule in self.rules:
            if rule.matches(qname):
                return rule
        return None

    def _rule_response(self, query, rule: Rule) -> bytes:

        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        if rule.action == "servfail":
            response.set_rcode(dns.rcode.SERVFAIL)
            response.flags &= ~dns.flags.AA
        elif rule.action == "refused":
            response.set_rcode(dns.rcode.REFUSED)
            response.flags &= ~dns.flags.AA
        elif rule.action == "nxdomain":
            response.set_rcode(dns.rcode.NXDOMAIN)
        else:
            qtype = query.question[0].rdtype
            for rrset in rule.records:
                if rrset.rdtype in (qtype, dns.rdatatype.CNAME) or qtype == dns.rdatatype.ANY:
                    response.answer.append(rrset)
        return response.to_wire()

    def handle(self, wire: bytes, send: Callable[[bytes], None], tcp: bool) -> None:
        """Apply the rules to one query and arrange for ``send`` to get the response."""

        qname = _question_name(wire)
        if qname is None:
            self._count_malformed("no single question with a valid name")
            return
        rule = self._find_rule(qname)
        action = rule.action if rule else "forward"
        delay = self.delay if rule is None or rule.delay_ms is None else rule.delay_ms / 1000.0
        if action == "timeout":
            return
        if action == "forward" and self.upstream is not None:
            if tcp:
                asyncio.ensure_future(self._forward_tcp(wire, send, delay))
            else:
                self._forward_udp(wire, send, delay)
            return
        try:
            query = dns.message.from_wire(wire)
        except dns.exception.DNSException as error:
            self._count_malformed(str(error))
            return
        if action == "forward":
            refused = dns.message.make_response(query)
            refused.set_rcode(dns.rcode.REFUSED)
            self._send_later(send, refused.to_wire(), delay)
            return
        self._send_later(send, self._rule_response(query, rule), delay)

    def _count_malformed(self, reason: str) -> None:
        self.malformed_queries += 1
        if self.malformed_queries <= 10 or self.malformed_queries % 1000 == 0:
            logger.warning("dropped a malformed query (%d so far): %s", self.malformed_queries, reason)

    def _send_later(self, send: Callable[[bytes], None], data: bytes, delay: float) -> None:
        if delay > 0:
            self.loop.call_later(delay, send, data)
        else:
            send(data)

    # Forwarding -----------------------------------------------------------

    def _allocate_id(self) -> int | None:
        for _ in range(65536):
            self._next_id = (self._next_id + 1) & 0xFFFF
            if self._next_id not in self._pending:
                return self._next_id
        return None

    def _forward_udp(self, wire: bytes, send: Callable[[bytes], None], delay: float) -> None:
        upstream_id = self._allocate_id()
        if upstream_id is None:
            logger.warning("65536 forwarded queries are in flight; dropping one")
            return
        original_id = wire[:2]

        def deliver(response: bytes) -> None:
            self._send_later(send, original_id + response[2:], delay)

        timer = self.loop.call_later(UPSTREAM_TIMEOUT, self._expire, upstream_id)
        self._pending[upstream_id] = (deliver, timer, wire)
        self._upstream_transport.sendto(struct.pack("!H", upstream_id) + wire[2:])

    def _expire(self, upstream_id: int) -> None:
        if self._pending.pop(upstream_id, None) is not None:
            self.upstream_timeouts += 1
            if self.upstream_timeouts <= 10 or self.upstream_timeouts % 1000 == 0:
                logger.warning(
                    "upstream %s did not respond within %.0f s (%d timeouts so far)",
                    format_nameserver(*self.upstream),
                    UPSTREAM_TIMEOUT,
                    self.upstream_timeouts,
                )

    def upstream_response(self, data: bytes) -> None:
        if len(data) < 12:
            return
        entry = self._pending.pop(struct.unpack("!H", data[:2])[0], None)
        if entry is None:
            return
        deliver, timer, _ = entry
        timer.cancel()
        deliver(data)

    async def _forward_tcp(self, wire: bytes, send: Callable[[bytes], None], delay: float) -> None:
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(*self.upstream), UPSTREAM_TIMEOUT
            )
            try:
                writer.write(struct.pack("!H", len(wire)) + wire)
                await writer.drain()
                length = struct.unpack("!H", await reader.readexactly(2))[0]
                response = await asyncio.wait_for(reader.readexactly(length), UPSTREAM_TIMEOUT)
            finally:
                writer.close()
        except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError) as error:
            logger.warning("forwarding a TCP query to %s failed: %r", self.upstream, error)
            return
        if delay > 0:
            await asyncio.sleep(delay)
        send(response)

    # Listeners ------------------------------------------------------------

    async def serve(self, host: str, port: int, ready: Callable[[], None]) -> None:
        self.loop = asyncio.get_running_loop()
        server = self

        class ClientProtocol(asyncio.DatagramProtocol):
            def connection_made(self, transport) -> None:
                server._udp_transport = transport

            def datagram_received(self, data: bytes, address) -> None:
                server.handle(data, lambda response: server._udp_transport.sendto(response, address), tcp=False)

        class UpstreamProtocol(asyncio.DatagramProtocol):
            def datagram_received(self, data: bytes, address) -> None:
                server.upstream_response(data)

        client_transport, _ = await self.loop.create_datagram_endpoint(
            ClientProtocol, local_addr=(host, port)
        )
        _enlarge_buffers(client_transport)
        if self.upstream is not None:
            self._upstream_transport, _ = await self.loop.create_datagram_endpoint(
                UpstreamProtocol, remote_addr=self.upstream
            )
            _enlarge_buffers(self._upstream_transport)
        tcp_server = await asyncio.start_server(self._serve_tcp_client, host, port)
        stop = asyncio.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            self.loop.add_signal_handler(signum, stop.set)
        ready()
        await stop.wait()
        tcp_server.close()
        logger.info(
            "responder stopping: %d malformed queries, %d upstream timeouts",
            self.malformed_queries,
            self.upstream_timeouts,
        )

    async def _serve_tcp_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        def send(response: bytes) -> None:
            if not writer.is_closing():
                writer.write(struct.pack("!H", len(response)) + response)

        try:
            while True:
                length = struct.unpack("!H", await reader.readexactly(2))[0]
                self.handle(await reader.readexactly(length), send, tcp=True)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            # Keep the connection open long enough for delayed responses to go out.
            await asyncio.sleep(self.delay + 1.0)
            writer.close()


class Responder(LoopbackDnsServer):
    """The responder as a subprocess on 127.0.0.1; a context manager."""

    def __init__(
        self,
        workdir: Path | str,
        upstream: str | None = None,
        delay_ms: float = 0.0,
        rules: list[dict] | None = None,
        port: int | None = None,
    ) -> None:
        self.workdir = Path(workdir)
        self.upstream = upstream
        self.delay_ms = delay_ms
        self.rules = list(DEFAULT_RULES if rules is None else rules)
        parse_rules(self.rules)
        self.port = port or free_port()
        self._process: ManagedProcess | None = None

    @property
    def zones(self) -> list[str]:
        """Names that rules cover with ``subtree``, for stub zones in a resolver."""
        return [rule["name"].rstrip(".") for rule in self.rules if rule.get("subtree")]

    def start(self, timeout: float = START_TIMEOUT) -> None:
        """Start the subprocess and wait for its ``ready`` line."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        rules_path = self.workdir / "rules.json"
        rules_path.write_text(json.dumps({"rules": self.rules}, indent=1))
        command = [
            sys.executable, "-m", "dnsscience.testbed.responder",
            "--port", str(self.port),
            "--delay-ms", str(self.delay_ms),
            "--rules", str(rules_path),
        ]  # fmt: skip
        if self.upstream:
            command += ["--upstream", self.upstream]
        self._process = ManagedProcess("responder", command, self.workdir / "responder.log")
        # The work folder as cwd keeps ``python -m`` from importing a source
        # checkout in the caller's cwd instead of the installed package.
        self._process.start(capture_stdout=True, cwd=self.workdir)
        stdout = self._process.stdout
        deadline = time.monotonic() + timeout
        line = b""
        while time.monotonic() < deadline and self._process.is_running():
            readable, _, _ = select.select([stdout], [], [], 0.1)
            if readable:
                line = stdout.readline()
                break
        if not line.startswith(b"ready"):
            log = self._process.log_tail()
            self.stop()
            raise RuntimeError(f"the responder did not start within {timeout:.0f} s; its log:\n{log}")
        logger.info("responder listens on %s (upstream %s)", self.nameserver, self.upstream)



def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m dnsscience.testbed.responder",
        description="Serve DNS on loopback with rules for timeouts, errors and delays.",
    )
    parser.add_argument("--host", default=LOOPBACK_IPV4, help="address to listen on (default %(default)s)")
    parser.add_argument("--port", type=int, required=True, help="UDP and TCP port to listen on")
    parser.add_argument("--upstream", help="HOST:PORT that unmatched queries are forwarded to")
    parser.add_argument("--delay-ms", type=float, default=0.0, help="delay of every response, in milliseconds")
    parser.add_argument("--rules", type=Path, help='JSON file {"rules": [...]}; default: the built-in rules')
    arguments = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    rule_dicts = DEFAULT_RULES
    if arguments.rules is not None:
        rule_dicts = json.loads(arguments.rules.read_text())["rules"]
    upstream = _parse_host_port(arguments.upstream) if arguments.upstream else None
    server = ResponderServer(parse_rules(rule_dicts), upstream, arguments.delay_ms)

    def ready() -> None:
        sys.stdout.write(f"ready {arguments.port}\n")
        sys.stdout.flush()

    asyncio.run(server.serve(arguments.host, arguments.port, ready))
    return 0


if __name__ == "__main__":
    sys.exit(main())
