"""Prometheus metrics of a dnsscience daemon, served on 127.0.0.1.

The module contains one process-wide registry with the daemon metrics already
declared. A daemon starts the exporter once and records each batch::

    from dnsscience import metrics

    server = metrics.start_metrics_server(port, daemon="dnsscience_emaild")
    ...
    metrics.observe_batch(size=stored, seconds=elapsed)
    metrics.count_lookup_failures({"timeout": 3, "servfail": 1})
    metrics.count_error("database")
    ...
    if server is not None:
        server.close()

The exporter serves the Prometheus text exposition format 0.0.4 at ``/metrics``
from a daemon thread of the standard library's ``ThreadingHTTPServer``. It binds
only to 127.0.0.1: put a reverse proxy or the node's Prometheus agent in front of
it to scrape from elsewhere. Port 0 means off. Besides the dnsscience metrics it
exports the standard ``process_*`` metrics read from ``/proc/self`` (Linux only;
omitted where ``/proc`` is missing).
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from dnsscience.errors import ConfigurationError

__all__ = [
    "CONTENT_TYPE",
    "METRICS_PORT_VARIABLE",
    "REGISTRY",
    "Counter",
    "Gauge",
    "Histogram",
    "MetricsServer",
    "Registry",
    "count_error",
    "count_lookup_failures",
    "metrics_port_from_environment",
    "observe_batch",
    "set_build_info",
    "start_metrics_server",
]

logger = logging.getLogger(__name__)

#: Content type of the Prometheus text exposition format, version 0.0.4.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
#: Environment variable holding the exporter's TCP port on 127.0.0.1 (0 = off).
METRICS_PORT_VARIABLE = "DNSSCIENCE_METRICS_PORT"
LISTEN_ADDRESS = "127.0.0.1"

#: Upper bounds of the batch duration buckets, in seconds: from sub-second batches
#: (responses cached) to ten-minute ones (many lookups timing out).
BATCH_DURATION_BUCKETS = (0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)


def _format_value(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if math.isnan(value):
        return "NaN"
    if float(value).is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(float(value))


def _escape_label_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _format_labels(names: Sequence[str], values: Sequence[str]) -> str:
    if not names:
        return ""
    pairs = ",".join(
        f'{name}="{_escape_label_value(value)}"' for name, value in zip(names, values, strict=True)
    )
    return "{" + pairs + "}"


class _Metric:
    """A metric family: a name, help text, label names and one value per label set."""

    kind = "untyped"

    def __init__(self, name: str, help_text: str, labelnames: Sequence[str] = ()) -> None:
        self.name = name
        self.help_text = help_text
        self.labelnames = tuple(labelnames)
        self._lock = threading.Lock()
        self._values: dict[tuple[str, ...], float] = {}

    def _key(self, labels: Mapping[str, str]) -> tuple[str, ...]:
        if set(labels) != set(self.labelnames):
            raise ValueError(
                f"metric {self.name} takes the labels {list(self.labelnames)}, got {sorted(labels)}"
            )
        return tuple(str(labels[name]) for name in self.labelnames)

    def value(self, **labels: str) -> float:
        """Return the current value for ``labels`` (0 when never set)."""
        with self._lock:
            return self._values.get(self._key(labels), 0.0)

    def samples(self) -> list[str]:
        with self._lock:
            items = sorted(self._values.items())
        return [
            f"{self.name}{_format_labels(self.labelnames, key)} {_format_value(value)}"
            for key, value in items
        ]

    def render(self) -> list[str]:
        lines = [
            f"# HELP {self.name} {_escape_help(self.help_text)}",
            f"# TYPE {self.name} {self.kind}",
        ]
        lines.extend(self.samples())
        return lines


class Counter(_Metric):
    """A monotonically increasing count; the name should end in ``_total``."""

    kind = "counter"

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        """Add ``amount`` (not negative) to the count for ``labels``."""
        if amount < 0:
            raise ValueError(f"counter {self.name} cannot decrease (amount {amount})")
        key = self._key(labels)
        with self._lock:
            self._values[key] = self._values.get(key, 0.0) + amount


class Gauge(_Metric):
    """A value that goes up and down."""

    kind = "gauge"

    def set(self, value: float, **labels: str) -> None:
        """Set the value for ``labels``."""
        key = self._key(labels)
        with self._lock:
            self._values[key] = float(value)


class Histogram(_Metric):
    """Observations counted into cumulative buckets, with their sum and count."""

    kind = "histogram"

    def __init__(
        self,
        name: str,
        help_text: str,
        buckets: Sequence[float],
        labelnames: Sequence[str] = (),
    ) -> None:
        super().__init__(name, help_text, labelnames)
        if "le" in self.labelnames:
            raise ValueError(f"histogram {name} cannot have a label named 'le'")
        bounds = sorted(float(bound) for bound in buckets)
        if not bounds or bounds[-1] != math.inf:
            bounds.append(math.inf)
        self.buckets = tuple(bounds)
        self._counts: dict[tuple[str, ...], list[int]] = {}
        self._sums: dict[tuple[str, ...], float] = {}

    def observe(self, value: float, **labels: str) -> None:
        """Count one observation of ``value``."""
        key = self._key(labels)
        with self._lock:
            counts = self._counts.setdefault(key, [0] * len(self.buckets))
            for index, bound in enumerate(self.buckets):
                if value <= bound:
                    counts[index] += 1
            self._sums[key] = self._sums.get(key, 0.0) + value

    def count(self, **labels: str) -> int:
        """Return how many observations were made for ``labels``."""
        with self._lock:
            counts = self._counts.get(self._key(labels))
            return counts[-1] if counts else 0

    def samples(self) -> list[str]:
        with self._lock:
            snapshot = sorted(
                (key, list(counts), self._sums[key]) for key, counts in self._counts.items()
            )
        lines = []
        for key, counts, total in snapshot:
            for bound, count in zip(self.buckets, counts, strict=True):
                labels = _format_labels(self.labelnames + ("le",), key + (_format_value(bound),))
                lines.append(f"{self.name}_bucket{labels} {count}")
            plain = _format_labels(self.labelnames, key)
            lines.append(f"{self.name}_sum{plain} {_format_value(total)}")
            lines.append(f"{self.name}_count{plain} {counts[-1]}")
        return lines


class Registry:
    """The metric families of one process, rendered in registration order."""

    def __init__(self, process_metrics: bool = True) -> None:
        self._lock = threading.Lock()
        self._metrics: dict[str, _Metric] = {}
        self.process_metrics = process_metrics

    def register(self, metric: _Metric) -> _Metric:
        """Add ``metric``; raise ValueError when its name is taken."""
        with self._lock:
            if metric.name in self._metrics:
                raise ValueError(f"metric {metric.name} is already registered")
            self._metrics[metric.name] = metric
        return metric

    def counter(self, name: str, help_text: str, labelnames: Sequence[str] = ()) -> Counter:
        """Register and return a new :class:`Counter`."""
        metric = Counter(name, help_text, labelnames)
        self.register(metric)
        return metric

    def gauge(self, name: str, help_text: str, labelnames: Sequence[str] = ()) -> Gauge:
        """Register and return a new :class:`Gauge`."""
        metric = Gauge(name, help_text, labelnames)
        self.register(metric)
        return metric

    def histogram(
        self,
        name: str,
        help_text: str,
        buckets: Sequence[float],
        labelnames: Sequence[str] = (),
    ) -> Histogram:
        """Register and return a new :class:`Histogram`."""
        metric = Histogram(name, help_text, buckets, labelnames)
        self.register(metric)
        return metric

    def render(self) -> str:
        """Return every metric in the text exposition format, ending with a newline."""
        with self._lock:
            metrics = list(self._metrics.values())
        lines: list[str] = []
        for metric in metrics:
            lines.extend(metric.render())
        if self.process_metrics:
            lines.extend(_process_metric_lines())
        return "\n".join(lines) + "\n"


_PROCESS_START = time.time()


def _process_metric_lines() -> list[str]:
    """Return the standard ``process_*`` metrics of this process from /proc/self."""
    values: list[tuple[str, str, str, float]] = [
        (
            "process_start_time_seconds",
            "gauge",
            "Start time of the process since the Unix epoch, in seconds.",
            _PROCESS_START,
        ),
    ]
    cpu = time.process_time()
    values.append(
        ("process_cpu_seconds_total", "counter", "User and system CPU time spent, in seconds.", cpu)
    )
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            fields = statm.read().split()
        page_size = os.sysconf("SC_PAGE_SIZE")
        values.append(
            (
                "process_virtual_memory_bytes",
                "gauge",
                "Virtual memory size in bytes.",
                int(fields[0]) * page_size,
            )
        )
        values.append(
            (
                "process_resident_memory_bytes",
                "gauge",
                "Resident memory size in bytes.",
                int(fields[1]) * page_size,
            )
        )
        values.append(
            (
                "process_open_fds",
                "gauge",
                "Number of open file descriptors.",
                len(os.listdir("/proc/self/fd")),
            )
        )
    except (OSError, ValueError, IndexError):
        pass
    try:
        import resource

        soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft != resource.RLIM_INFINITY:
            values.append(
                ("process_max_fds", "gauge", "Maximum number of open file descriptors.", soft)
            )
    except (ImportError, OSError):
        pass

    lines = []
    for name, kind, help_text, value in values:
        lines.append(f"# HELP {name} {help_text}")
        lines.append(f"# TYPE {name} {kind}")
        lines.append(f"{name} {_format_value(value)}")
    return lines


#: The process-wide registry that the exporter serves.
REGISTRY = Registry()

BUILD_INFO = REGISTRY.gauge(
    "dnsscience_build_info",
    "Always 1; the labels name the daemon and the dnsscience version.",
    ("daemon", "version"),
)
DOMAINS_CHECKED = REGISTRY.counter(
    "dnsscience_domains_checked_total",
    "Domains checked and stored since the process started.",
)
BATCHES = REGISTRY.counter(
    "dnsscience_batches_total",
    "Batches that processed at least one domain.",
)
BATCH_DURATION = REGISTRY.histogram(
    "dnsscience_batch_duration_seconds",
    "Wall-clock time of one batch, from claiming its domains to the last commit.",
    BATCH_DURATION_BUCKETS,
)
LAST_BATCH_SIZE = REGISTRY.gauge(
    "dnsscience_last_batch_size",
    "Domains stored by the most recent batch.",
)
LAST_BATCH_TIMESTAMP = REGISTRY.gauge(
    "dnsscience_last_batch_timestamp_seconds",
    "End of the most recent batch that processed a domain, since the Unix epoch.",
)
LOOKUP_FAILURES = REGISTRY.counter(
    "dnsscience_lookup_failures_total",
    "DNS lookups or TLS probes that failed, by kind (timeout, servfail, refused, ...).",
    ("kind",),
)
ERRORS = REGISTRY.counter(
    "dnsscience_errors_total",
    "Errors the daemon caught and recovered from, by kind (database, ...).",
    ("kind",),
)


def set_build_info(daemon: str, version: str | None = None) -> None:
    """Set ``dnsscience_build_info`` for this process."""
    if version is None:
        from dnsscience import __version__ as version
    BUILD_INFO.set(1, daemon=daemon, version=version)


def observe_batch(size: int, seconds: float, now: float | None = None) -> None:
    """Record one finished batch: ``size`` domains stored in ``seconds``.

    A batch with ``size`` 0 (nothing was due) changes no metric, so the duration
    histogram describes only batches that did work.
    """
    if size < 0 or seconds < 0:
        raise ValueError(f"batch size {size} and duration {seconds} must not be negative")
    if size == 0:
        return
    DOMAINS_CHECKED.inc(size)
    BATCHES.inc()
    BATCH_DURATION.observe(seconds)
    LAST_BATCH_SIZE.set(size)
    LAST_BATCH_TIMESTAMP.set(time.time() if now is None else now)


def count_lookup_failures(counts: Mapping[str, int] | Iterable[str]) -> None:
    """Add failed lookups by kind: a mapping ``{kind: count}`` or one kind per item."""
    if isinstance(counts, Mapping):
        items = counts.items()
    else:
        items = ((kind, 1) for kind in counts)
    for kind, count in items:
        if count:
            LOOKUP_FAILURES.inc(count, kind=str(kind))


def count_error(kind: str, count: int = 1) -> None:
    """Add ``count`` caught errors of ``kind`` (for example ``database``)."""
    ERRORS.inc(count, kind=kind)


class _Handler(BaseHTTPRequestHandler):
    server: _ExporterHTTPServer

    def do_GET(self) -> None:  # noqa: N802 - name fixed by BaseHTTPRequestHandler
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            body = self.server.registry.render().encode("utf-8")
            self._send(200, CONTENT_TYPE, body)
        elif path == "/":
            body = b'<html><body><a href="/metrics">/metrics</a></body></html>\n'
            self._send(200, "text/html; charset=utf-8", body)
        else:
            self._send(404, "text/plain; charset=utf-8", b"not found; try /metrics\n")

    def do_HEAD(self) -> None:  # noqa: N802
        self._send(
            200 if self.path.split("?", 1)[0] == "/metrics" else 404, CONTENT_TYPE, b"", head=True
        )

    def _send(self, status: int, content_type: str, body: bytes, head: bool = False) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        # Every scrape would otherwise log a line, so log requests only at DEBUG.
        logger.debug("metrics request from %s: %s", self.address_string(), format % args)


class _ExporterHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], registry: Registry) -> None:
        self.registry = registry
        super().__init__(address, _Handler)


class MetricsServer:
    """The running exporter; :meth:`close` stops it and frees the port."""

    def __init__(self, port: int, registry: Registry = REGISTRY) -> None:
        self._httpd = _ExporterHTTPServer((LISTEN_ADDRESS, port), registry)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name="metrics-exporter", daemon=True
        )
        self._thread.start()

    @property
    def port(self) -> int:
        """The TCP port actually bound (differs from the requested one only for 0)."""
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        """The URL that serves the metrics."""
        return f"http://{LISTEN_ADDRESS}:{self.port}/metrics"

    def close(self) -> None:
        """Stop serving and close the listening socket."""
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


def metrics_port_from_environment(environ: Mapping[str, str] | None = None) -> int:
    """Return ``DNSSCIENCE_METRICS_PORT`` as an int, 0 when it is unset or empty.

    Raises ConfigurationError when the value is not a port number from 0 to 65535.
    """
    if environ is None:
        environ = os.environ
    text = environ.get(METRICS_PORT_VARIABLE, "").strip()
    if not text:
        return 0
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise ConfigurationError(
            f"{METRICS_PORT_VARIABLE}={text!r} is invalid: set a TCP port from 1 to 65535, "
            "or 0 to turn the metrics exporter off"
        )
    return port


def start_metrics_server(
    port: int | None = None,
    daemon: str | None = None,
    registry: Registry = REGISTRY,
) -> MetricsServer | None:
    """Start the exporter on 127.0.0.1:``port``; return None when ``port`` is 0.

    ``port`` None reads ``DNSSCIENCE_METRICS_PORT``. ``daemon`` sets the
    ``dnsscience_build_info`` labels. When the port cannot be bound (for example
    because it is in use), logs an error and returns None, so a port clash does not
    stop the daemon.
    """
    if port is None:
        port = metrics_port_from_environment()
    if daemon is not None:
        set_build_info(daemon)
    if port == 0:
        logger.info("Metrics exporter off (%s=0)", METRICS_PORT_VARIABLE)
        return None
    try:
        server = MetricsServer(port, registry)
    except OSError as error:
        logger.error(
            "Metrics exporter could not listen on %s:%d: %s; continuing without metrics",
            LISTEN_ADDRESS,
            port,
            error,
        )
        return None
    logger.info("Metrics exporter listening on %s", server.url)
    return server
