"""Tests of the Prometheus exposition and the loopback metrics exporter."""

from __future__ import annotations

import logging
import socket
import urllib.error
import urllib.request

import pytest

from dnsscience import __version__, metrics
from dnsscience.errors import ConfigurationError
from dnsscience.metrics import CONTENT_TYPE, MetricsServer, Registry


def _fetch(url: str) -> tuple[int, str, str]:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.status, response.headers["Content-Type"], response.read().decode()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def registry() -> Registry:
    return Registry(process_metrics=False)


def test_counter_renders_help_type_and_labels(registry):
    failures = registry.counter("x_failures_total", "Failed lookups.", ("kind",))
    failures.inc(2, kind="timeout")
    failures.inc(kind="servfail")
    failures.inc(kind="timeout")

    lines = registry.render().splitlines()

    assert lines == [
        "# HELP x_failures_total Failed lookups.",
        "# TYPE x_failures_total counter",
        'x_failures_total{kind="servfail"} 1',
        'x_failures_total{kind="timeout"} 3',
    ]


def test_counter_rejects_decrease(registry):
    counter = registry.counter("x_total", "Things.")
    with pytest.raises(ValueError, match="cannot decrease"):
        counter.inc(-1)


def test_metric_rejects_wrong_labels(registry):
    counter = registry.counter("x_total", "Things.", ("kind",))
    with pytest.raises(ValueError, match=r"takes the labels \['kind'\]"):
        counter.inc(kind="a", other="b")


def test_registry_rejects_duplicate_name(registry):
    registry.gauge("x", "A gauge.")
    with pytest.raises(ValueError, match="already registered"):
        registry.counter("x", "Again.")


def test_label_values_and_help_are_escaped(registry):
    gauge = registry.gauge("x_info", "Help with a \\ backslash\nand a newline.", ("name",))
    gauge.set(1, name='quote " slash \\ newline \n end')

    text = registry.render()

    assert "# HELP x_info Help with a \\\\ backslash\\nand a newline.\n" in text
    assert 'x_info{name="quote \\" slash \\\\ newline \\n end"} 1\n' in text


def test_histogram_buckets_are_cumulative(registry):
    histogram = registry.histogram("x_seconds", "Durations.", (1.0, 5.0))
    for value in (0.5, 1.0, 3.0, 7.5):
        histogram.observe(value)

    lines = registry.render().splitlines()

    assert 'x_seconds_bucket{le="1"} 2' in lines
    assert 'x_seconds_bucket{le="5"} 3' in lines
    assert 'x_seconds_bucket{le="+Inf"} 4' in lines
    assert "x_seconds_sum 12" in lines
    assert "x_seconds_count 4" in lines
    assert histogram.count() == 4


def test_values_format_as_prometheus_floats(registry):
    gauge = registry.gauge("x", "Values.", ("case",))
    gauge.set(0.25, case="fraction")
    gauge.set(float("inf"), case="infinite")
    gauge.set(float("nan"), case="nan")
    gauge.set(1e20, case="large")

    lines = registry.render().splitlines()

    assert 'x{case="fraction"} 0.25' in lines
    assert 'x{case="infinite"} +Inf' in lines
    assert 'x{case="nan"} NaN' in lines
    assert 'x{case="large"} 1e+20' in lines


def test_exposition_parses_with_reference_parser(registry):
    parser = pytest.importorskip(
        "prometheus_client.parser", reason="prometheus_client is not installed"
    )
    registry.counter("x_total", "Things.", ("kind",)).inc(3, kind='a"b')
    registry.histogram("x_seconds", "Durations.", (1.0,)).observe(0.5)

    families = {
        family.name: family for family in parser.text_string_to_metric_families(registry.render())
    }

    assert families["x"].type == "counter"
    assert families["x"].samples[0].labels == {"kind": 'a"b'}
    assert families["x"].samples[0].value == 3
    assert families["x_seconds"].type == "histogram"


def test_process_metrics_are_exported():
    text = Registry(process_metrics=True).render()

    assert "# TYPE process_start_time_seconds gauge" in text
    assert "# TYPE process_cpu_seconds_total counter" in text
    assert "\nprocess_resident_memory_bytes " in text
    assert "\nprocess_open_fds " in text


def test_observe_batch_updates_daemon_metrics():
    checked_before = metrics.DOMAINS_CHECKED.value()
    batches_before = metrics.BATCHES.value()
    observations_before = metrics.BATCH_DURATION.count()

    metrics.observe_batch(size=40, seconds=3.5, now=1_700_000_000.0)
    metrics.observe_batch(size=0, seconds=30.0)

    assert metrics.DOMAINS_CHECKED.value() == checked_before + 40
    assert metrics.BATCHES.value() == batches_before + 1
    assert metrics.BATCH_DURATION.count() == observations_before + 1
    assert metrics.LAST_BATCH_SIZE.value() == 40
    assert metrics.LAST_BATCH_TIMESTAMP.value() == 1_700_000_000.0


def test_observe_batch_rejects_negative_size():
    with pytest.raises(ValueError, match="must not be negative"):
        metrics.observe_batch(size=-1, seconds=1.0)


def test_lookup_failures_accept_mapping_and_kinds():
    before = metrics.LOOKUP_FAILURES.value(kind="timeout")

    metrics.count_lookup_failures({"timeout": 2, "servfail": 0})
    metrics.count_lookup_failures(["timeout", "refused"])

    assert metrics.LOOKUP_FAILURES.value(kind="timeout") == before + 3
    assert 'dnsscience_lookup_failures_total{kind="timeout"}' in metrics.REGISTRY.render()


def test_port_from_environment():
    assert metrics.metrics_port_from_environment({}) == 0
    assert metrics.metrics_port_from_environment({"DNSSCIENCE_METRICS_PORT": " 9481 "}) == 9481
    assert metrics.metrics_port_from_environment({"DNSSCIENCE_METRICS_PORT": "0"}) == 0


@pytest.mark.parametrize("value", ["http", "-1", "65536", "94.81"])
def test_port_from_environment_rejects(value):
    with pytest.raises(ConfigurationError, match="DNSSCIENCE_METRICS_PORT"):
        metrics.metrics_port_from_environment({"DNSSCIENCE_METRICS_PORT": value})


def test_server_serves_metrics_on_loopback(registry):
    registry.counter("x_total", "Things.").inc(7)
    server = MetricsServer(0, registry)
    try:
        assert server.url.startswith("http://127.0.0.1:")
        status, content_type, body = _fetch(server.url)
    finally:
        server.close()

    assert status == 200
    assert content_type == CONTENT_TYPE
    assert "x_total 7\n" in body


def test_server_answers_unknown_path_with_404(registry):
    server = MetricsServer(0, registry)
    try:
        with pytest.raises(urllib.error.HTTPError) as caught:
            _fetch(f"http://127.0.0.1:{server.port}/other")
    finally:
        server.close()

    assert caught.value.code == 404


def test_start_server_port_zero_is_off():
    assert metrics.start_metrics_server(0, daemon="test_daemon") is None
    assert metrics.BUILD_INFO.value(daemon="test_daemon", version=__version__) == 1


def test_start_server_reads_environment(monkeypatch):
    port = _free_port()
    monkeypatch.setenv("DNSSCIENCE_METRICS_PORT", str(port))

    server = metrics.start_metrics_server(daemon="test_daemon")
    try:
        assert server is not None
        assert server.port == port
        _status, _type, body = _fetch(server.url)
    finally:
        if server is not None:
            server.close()

    assert 'dnsscience_build_info{daemon="test_daemon",version="' in body
    assert "# TYPE dnsscience_batch_duration_seconds histogram" in body


def test_start_server_port_in_use_logs_and_continues(caplog):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with caplog.at_level(logging.ERROR, logger="dnsscience.metrics"):
            server = metrics.start_metrics_server(port)

    assert server is None
    assert f"could not listen on 127.0.0.1:{port}" in caplog.text
