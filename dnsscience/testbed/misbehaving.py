"""Small loopback servers that misbehave the way real TLS and mail servers do.

Each server listens on one loopback address and port and handles every connection
in its own thread:

- :class:`SilentServer` accepts TCP connections and never sends a byte.
- :class:`CloseAfterHelloServer` reads the ClientHello, then closes the connection
  (FIN) or resets it (RST).
- :class:`GarbageServer` replies to the ClientHello with bytes that are not TLS.
- :class:`TrickleServer` runs a real TLS handshake but sends its bytes one at a
  time, far too slowly to finish within a prober's deadline.
- :class:`SmtpServer` speaks ESMTP (RFC 5321) with STARTTLS (RFC 3207) offered,
  not offered, rejected, or with a 421 greeting, or floods the client with an
  endless multi-line greeting.
- :class:`ImapServer` and :class:`Pop3Server` offer STARTTLS (RFC 3501 section
  6.2.1) and STLS (RFC 2595 section 4).
"""

from __future__ import annotations

import logging
import socket
import ssl
import struct
import threading

from dnsscience.testbed.ca import IssuedCertificate, TlsTestBedError

logger = logging.getLogger(__name__)

# Idle timeout of a connection's socket: no handler thread outlives a stuck client
# by more than this.
_CONNECTION_TIMEOUT = 30.0
_MAX_LINE = 8192


def server_context(certificate: IssuedCertificate) -> ssl.SSLContext:
    """Return a server-side SSLContext presenting ``certificate`` with its chain."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    context.load_cert_chain(str(certificate.chain_file), str(certificate.key_file))
    return context


class LoopbackServer:
    """Base class: a listening socket on ``(address, port)``, a thread per connection.

    Subclasses implement :meth:`handle`. :meth:`stop` closes the listener and
    every open connection, then joins the threads.
    """

    def __init__(self, address: str, port: int) -> None:
        self.address = address
        self.port = port
        self._stopping = threading.Event()
        self._listener: socket.socket | None = None
        self._accept_thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []

    def __enter__(self) -> LoopbackServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> None:
        """Bind and listen. Raises TlsTestBedError when the address cannot be bound."""
        try:
            self._listener = socket.create_server((self.address, self.port), backlog=128)
        except OSError as error:
            raise TlsTestBedError(
                f"{type(self).__name__} could not listen on {self.address}:{self.port}: {error}"
            ) from error
        self._accept_thread = threading.Thread(
            target=self._accept_loop, name=f"{type(self).__name__}-{self.address}", daemon=True
        )
        self._accept_thread.start()

    def stop(self) -> None:
        """Close the listener and all connections and join the threads. Safe to call twice."""
        self._stopping.set()
        listener, self._listener = self._listener, None
        if listener is not None:
            # shutdown() wakes the thread blocked in accept(); close() alone does not.
            try:
                listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            listener.close()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        threads = list(self._threads)
        if self._accept_thread is not None:
            threads.append(self._accept_thread)
        for thread in threads:
            thread.join(timeout=5)

    def handle(self, connection: socket.socket) -> None:
        """Serve one accepted connection; the base class closes it afterwards."""
        raise NotImplementedError

    def _accept_loop(self) -> None:
        listener = self._listener
        assert listener is not None
        while not self._stopping.is_set():
            try:
                connection, _peer = listener.accept()
            except OSError:
                return
            connection.settimeout(_CONNECTION_TIMEOUT)
            with self._lock:
                self._connections.add(connection)
            thread = threading.Thread(target=self._serve, args=(connection,), daemon=True)
            self._threads = [t for t in self._threads if t.is_alive()] + [thread]
            thread.start()

    def _serve(self, connection: socket.socket) -> None:
        try:
            self.handle(connection)
        except (OSError, ssl.SSLError) as error:
            # Clients of a misbehaving server hang up in every way; that is expected.
            logger.debug("%s: connection ended: %s", type(self).__name__, error)
        finally:
            with self._lock:
                self._connections.discard(connection)
            connection.close()


def read_client_hello(connection: socket.socket) -> bytes:
    """Read one TLS record (the ClientHello) and return it; b"" when the peer closed."""
    header = _receive_exactly(connection, 5)
    if len(header) < 5:
        return header
    (length,) = struct.unpack("!H", header[3:5])
    return header + _receive_exactly(connection, length)


def _receive_exactly(connection: socket.socket, count: int) -> bytes:
    data = b""
    while len(data) < count:
        chunk = connection.recv(count - len(data))
        if not chunk:
            break
        data += chunk
    return data


class SilentServer(LoopbackServer):
    """Accepts connections and never sends anything until stopped."""

    def handle(self, connection: socket.socket) -> None:
        self._stopping.wait()


class CloseAfterHelloServer(LoopbackServer):
    """Reads the ClientHello, then closes with FIN, or with RST when ``reset`` is True."""

    def __init__(self, address: str, port: int, *, reset: bool = False) -> None:
        super().__init__(address, port)
        self.reset = reset

    def handle(self, connection: socket.socket) -> None:
        read_client_hello(connection)
        if self.reset:
            # SO_LINGER with a zero timeout makes close() send RST (socket(7)).
            connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


# Bytes that cannot start a TLS record: 0x48 ('H') is no TLS content type.
GARBAGE = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n" + bytes(range(256))


class GarbageServer(LoopbackServer):
    """Replies to the ClientHello with :data:`GARBAGE`, then closes."""

    def handle(self, connection: socket.socket) -> None:
        read_client_hello(connection)
        connection.sendall(GARBAGE)


class TrickleServer(LoopbackServer):
    """Runs a real TLS handshake but sends one byte every ``interval`` seconds.

    A server certificate chain is a few kilobytes, so at the default 0.2 s per
    byte the handshake needs minutes and any prober deadline expires first.
    """

    def __init__(
        self, address: str, port: int, context: ssl.SSLContext, *, interval: float = 0.2
    ) -> None:
        super().__init__(address, port)
        self._context = context
        self.interval = interval

    def handle(self, connection: socket.socket) -> None:
        incoming = ssl.MemoryBIO()
        outgoing = ssl.MemoryBIO()
        tls = self._context.wrap_bio(incoming, outgoing, server_side=True)
        while not self._stopping.is_set():
            data = connection.recv(65536)
            if not data:
                return
            incoming.write(data)
            try:
                tls.do_handshake()
            except ssl.SSLWantReadError:
                pass
            for byte in outgoing.read():
                if self._stopping.wait(self.interval):
                    return
                connection.sendall(bytes([byte]))


class _LineConnection:
    """CRLF line reader and writer over a socket that can switch to TLS mid-stream."""

    def __init__(self, connection: socket.socket) -> None:
        self.socket: socket.socket = connection
        self._buffer = b""

    def read_line(self) -> str | None:
        """Return the next line without its line ending, or None when the peer closed."""
        while b"\n" not in self._buffer:
            if len(self._buffer) > _MAX_LINE:
                raise ConnectionError(f"line longer than {_MAX_LINE} bytes")
            chunk = self.socket.recv(4096)
            if not chunk:
                return None
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return line.rstrip(b"\r").decode("utf-8", errors="replace")

    def write(self, *lines: str) -> None:
        self.socket.sendall("".join(line + "\r\n" for line in lines).encode())

    def start_tls(self, context: ssl.SSLContext) -> None:
        if self._buffer:
            # RFC 3207 section 4: a client must not pipeline after STARTTLS.
            raise ConnectionError("client sent data before the TLS handshake")
        self.socket = context.wrap_socket(self.socket, server_side=True)


class SmtpServer(LoopbackServer):
    """An ESMTP server whose behaviour ``mode`` selects.

    - ``starttls`` offers STARTTLS and starts TLS with ``context``.
    - ``no_starttls`` never offers it.
    - ``reject_starttls`` offers it but replies 554 to the command.
    - ``unavailable`` greets with 421 and closes.
    - ``flood`` sends an endless multi-line 220 greeting until the client leaves
      or 8 MiB are sent.
    """

    MODES = ("starttls", "no_starttls", "reject_starttls", "unavailable", "flood")
    FLOOD_LIMIT = 8 * 1024 * 1024

    def __init__(
        self,
        address: str,
        port: int,
        *,
        hostname: str,
        mode: str,
        context: ssl.SSLContext | None = None,
    ) -> None:
        if mode not in self.MODES:
            raise ValueError(f"unknown SMTP mode {mode!r}: use one of {self.MODES}")
        if mode == "starttls" and context is None:
            raise ValueError(f"SMTP mode {mode!r} needs an SSLContext")
        super().__init__(address, port)
        self.hostname = hostname
        self.mode = mode
        self._context = context

    @property
    def greeting(self) -> str:
        """First line the server sends."""
        if self.mode == "unavailable":
            return f"421 4.3.2 {self.hostname} Service not available, closing transmission channel"
        return f"220 {self.hostname} ESMTP dnsscience test server"

    def handle(self, connection: socket.socket) -> None:
        lines = _LineConnection(connection)
        if self.mode == "flood":
            self._flood(connection)
            return
        lines.write(self.greeting)
        if self.mode == "unavailable":
            return

        encrypted = False
        while (line := lines.read_line()) is not None:
            verb = line.split(" ", 1)[0].upper()
            if verb in ("EHLO", "HELO"):
                offer = self.mode != "no_starttls" and not encrypted
                extensions = ["PIPELINING", "SIZE 10240000", "8BITMIME"]
                if offer:
                    extensions.append("STARTTLS")
                replies = [f"250-{self.hostname} greets you"]
                replies += [f"250-{extension}" for extension in extensions[:-1]]
                replies.append(f"250 {extensions[-1]}")
                lines.write(*replies)
            elif verb == "STARTTLS" and not encrypted and self.mode == "starttls":
                lines.write("220 2.0.0 Ready to start TLS")
                assert self._context is not None
                lines.start_tls(self._context)
                encrypted = True
            elif verb == "STARTTLS" and self.mode == "reject_starttls":
                lines.write("554 5.7.3 TLS not available")
            elif verb == "QUIT":
                lines.write("221 2.0.0 Bye")
                return
            elif verb in ("NOOP", "RSET"):
                lines.write("250 2.0.0 OK")
            else:
                lines.write("502 5.5.2 Command not recognized")

    def _flood(self, connection: socket.socket) -> None:
        line = f"220-{self.hostname} {'x' * 990}\r\n".encode()
        sent = 0
        while sent < self.FLOOD_LIMIT and not self._stopping.is_set():
            connection.sendall(line)
            sent += len(line)


class _MailServer(LoopbackServer):
    """Base class of the IMAP and POP3 servers: a host name and a TLS context."""

    def __init__(self, address: str, port: int, *, hostname: str, context: ssl.SSLContext) -> None:
        super().__init__(address, port)
        self.hostname = hostname
        self._context = context


class ImapServer(_MailServer):
    """An IMAP4rev1 server that offers STARTTLS until TLS is active."""

    def handle(self, connection: socket.socket) -> None:
        lines = _LineConnection(connection)
        encrypted = False

        def capabilities() -> str:
            return "IMAP4rev1 LOGINDISABLED" + ("" if encrypted else " STARTTLS")

        lines.write(f"* OK [CAPABILITY {capabilities()}] {self.hostname} IMAP ready")
        while (line := lines.read_line()) is not None:
            tag, _, rest = line.partition(" ")
            command = rest.split(" ", 1)[0].upper()
            if command == "CAPABILITY":
                lines.write(f"* CAPABILITY {capabilities()}", f"{tag} OK CAPABILITY completed")
            elif command == "STARTTLS" and not encrypted:
                lines.write(f"{tag} OK Begin TLS negotiation now")
                lines.start_tls(self._context)
                encrypted = True
            elif command == "NOOP":
                lines.write(f"{tag} OK NOOP completed")
            elif command == "LOGOUT":
                lines.write("* BYE logging out", f"{tag} OK LOGOUT completed")
                return
            else:
                lines.write(f"{tag} BAD unknown command")


class Pop3Server(_MailServer):
    """A POP3 server that offers STLS until TLS is active."""

    def handle(self, connection: socket.socket) -> None:
        lines = _LineConnection(connection)
        encrypted = False
        lines.write(f"+OK {self.hostname} POP3 ready")
        while (line := lines.read_line()) is not None:
            command = line.split(" ", 1)[0].upper()
            if command == "CAPA":
                capabilities = ["USER", "PIPELINING"]
                if not encrypted:
                    capabilities.append("STLS")
                lines.write("+OK Capability list follows", *capabilities, ".")
            elif command == "STLS" and not encrypted:
                lines.write("+OK Begin TLS negotiation")
                lines.start_tls(self._context)
                encrypted = True
            elif command == "NOOP":
                lines.write("+OK")
            elif command == "QUIT":
                lines.write("+OK bye")
                return
            else:
                lines.write("-ERR unknown command")
