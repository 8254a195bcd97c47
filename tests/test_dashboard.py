"""Tests of the dashboard: figures from a test database, the page, the server, Chromium."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from dnsscience.dashboard import DashboardServer, collect, render_page
from dnsscience.dashboard.data import DashboardData, RateSeries
from dnsscience.dashboard.page import render_rate_chart
from dnsscience.store.heartbeat import Heartbeat

OUTPUT_DIR = Path(__file__).resolve().parent.parent / "test-output"

#: has_mx, has_spf, spf_valid, has_dmarc, has_dkim, minutes since the check.
EMAIL_ROWS = [
    (True, True, True, True, True, 5),
    (True, True, False, True, False, 15),
    (True, False, False, False, False, 15),
    (False, False, False, False, False, 200),
]

#: Days from now to each certificate's expiry (None: no expiry date stored).
CERTIFICATE_EXPIRY_DAYS = [-3, 2, 10, 20, 45, 200, 365, None]


def _fetch(url: str) -> tuple[int, str, str]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, response.headers["Content-Type"], response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers["Content-Type"], error.read().decode()


def _populate(connection) -> None:
    """Fill a migrated database with known figures for every dashboard section."""
    statements = []
    for index, (mx, spf, spf_valid, dmarc, dkim, minutes) in enumerate(EMAIL_ROWS):
        name = f"mail{index}.example"
        statements.append(
            ("INSERT INTO domains (domain_name, is_active) VALUES ($1, TRUE)", [name])
        )
        statements.append(
            (
                "INSERT INTO email_security_records (domain_id, has_mx, has_spf, spf_valid, "
                "has_dmarc, has_dkim, last_checked) "
                "SELECT id, $2::boolean, $3::boolean, $4::boolean, $5::boolean, $6::boolean, "
                "(now() AT TIME ZONE 'UTC') - make_interval(mins => $7::int) "
                "FROM domains WHERE domain_name = $1",
                [
                    name,
                    *(str(flag).lower() for flag in (mx, spf, spf_valid, dmarc, dkim)),
                    str(minutes),
                ],
            )
        )
    for index, days in enumerate(CERTIFICATE_EXPIRY_DAYS):
        expires = (
            None if days is None else f"(now() AT TIME ZONE 'UTC') + make_interval(days => {days})"
        )
        statements.append(
            (
                "INSERT INTO ssl_certificates (domain_name, port, expires_at, last_checked) "
                f"VALUES ($1, 443, {expires or 'NULL'}, (now() AT TIME ZONE 'UTC'))",
                [f"tls{index}.example"],
            )
        )
    alerts = [
        ("tls0.example", "expired", "high", "Certificate expired 3 days ago", None),
        ("<script>alert(1)</script>.example", "expiring", "medium", "Expires <soon>", None),
        ("tls3.example", "untrusted", "low", "Resolved already", "now()"),
    ]
    for name, kind, severity, message, resolved in alerts:
        statements.append(
            (
                "INSERT INTO tls_alerts (domain_name, port, kind, severity, message, raised_at, "
                f"last_seen_at, resolved_at) VALUES ($1, 443, $2, $3, $4, now(), now(), "
                f"{resolved or 'NULL'})",
                [name, kind, severity, message],
            )
        )
    for minutes in (5, 5, 25):
        statements.append(
            (
                "INSERT INTO tls_scan_attempts (domain_name, port, attempted_at, status) "
                "VALUES ('tls1.example', 443, now() - make_interval(mins => $1::int), 'ok')",
                [str(minutes)],
            )
        )
    connection.transaction(statements)

    Heartbeat("dnsscience_emaild", idle_seconds=30, host="host-a", pid=101).beat(
        connection, batch_size=40, batch_seconds=4.0, errors={"timeout": 2}
    )
    Heartbeat("dnsscience_ssl_scanner", idle_seconds=30, host="host-a", pid=102).start(connection)
    connection.execute(
        "UPDATE daemon_heartbeats SET last_beat_at = now() - interval '10 minutes' WHERE pid = 102"
    )


@pytest.fixture
def dashboard_database(migrated_database, pg_connect):
    connection = pg_connect(migrated_database)
    _populate(connection)
    return migrated_database


# -- figures ---------------------------------------------------------------------------


def test_collect_coverage(dashboard_database, pg_connect):
    data = collect(pg_connect(dashboard_database))

    coverage = dict(data.coverage)
    assert data.email_total == 4
    assert coverage["MX"] == 3
    assert coverage["SPF"] == 2
    assert coverage["SPF valid"] == 1
    assert coverage["DMARC"] == 2
    assert coverage["DKIM"] == 1


def test_collect_expiry_buckets(dashboard_database, pg_connect):
    data = collect(pg_connect(dashboard_database))

    assert data.expiry == [
        ("expired", 1),
        ("< 7 days", 1),
        ("7-30 days", 2),
        ("30-90 days", 1),
        ("90+ days", 2),
        ("no expiry date", 1),
    ]


def test_collect_open_alerts_only(dashboard_database, pg_connect):
    data = collect(pg_connect(dashboard_database))

    assert data.open_alerts_total == 2
    assert [alert.severity for alert in data.alerts] == ["high", "medium"]
    assert data.alerts[0].domain_name == "tls0.example"


def test_collect_rates_over_window(dashboard_database, pg_connect):
    data = collect(pg_connect(dashboard_database), hours=3)

    series = {line.label: line for line in data.rates}
    # The email row checked 200 minutes ago is outside the 3-hour window.
    assert series["Email records stored"].total == 3
    assert series["TLS probes"].total == 3
    assert series["TLS probes"].bucket_seconds == 600
    assert len(series["TLS probes"].points) in (18, 19)


def test_collect_health(dashboard_database, pg_connect):
    data = collect(pg_connect(dashboard_database))

    statuses = {instance.heartbeat.daemon: instance.status for instance in data.health.instances}
    assert statuses == {"dnsscience_emaild": "ok", "dnsscience_ssl_scanner": "stale"}
    assert data.notes == []


def test_collect_empty_database_notes(empty_database, pg_connect):
    data = collect(pg_connect(empty_database))

    assert data.health is None
    assert data.coverage == []
    assert data.expiry == []
    assert data.rates == []
    assert len(data.notes) == 5
    assert any("daemon_heartbeats" in note for note in data.notes)


def test_collect_rejects_bad_hours(empty_database, pg_connect):
    with pytest.raises(ValueError, match="hours 0 is invalid"):
        collect(pg_connect(empty_database), hours=0)


# -- the page --------------------------------------------------------------------------


def test_page_escapes_database_text(dashboard_database, pg_connect):
    page = render_page(collect(pg_connect(dashboard_database)))

    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;.example:443" in page
    assert "Expires &lt;soon&gt;" in page


def test_page_fetches_nothing_external(dashboard_database, pg_connect):
    page = render_page(collect(pg_connect(dashboard_database)))

    urls = re.findall(r"(?:src|href)\s*=\s*[\"']?([^\"' >]+)", page)
    assert urls == []
    assert re.findall(r"https?://[^\"' ]+", page) == ["http://www.w3.org/2000/svg"]


def test_page_sections(dashboard_database, pg_connect):
    page = render_page(collect(pg_connect(dashboard_database)))

    for heading in (
        "Instances",
        "Collection rate, last 24 hours",
        "Email security coverage",
        "Certificate expiry",
        "Open alerts (2)",
    ):
        assert f"<h2>{heading}</h2>" in page
    assert '<span class="overall-unhealthy">unhealthy</span>' in page
    assert page.count("<polyline") == 2


def test_rate_chart_without_data():
    assert "No result table" in render_rate_chart([])


def test_rate_chart_scales_to_maximum():
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    points = [
        (start + timedelta(minutes=10 * index), count) for index, count in enumerate([0, 30, 70])
    ]
    svg = render_rate_chart([RateSeries("Things", 600, points)])

    # Four steps of 20 (the 1-2-5 step above 70 / 4) reach 80.
    assert ">80</text>" in svg
    assert ">60</text>" in svg
    assert ">Things per 10m (100 in total)</text>" in svg


def test_page_without_any_table():
    data = DashboardData(
        generated_at=datetime(2026, 1, 1, tzinfo=timezone.utc),
        hours=24,
        notes=["Instances: not available"],
    )
    page = render_page(data)

    assert "<li>Instances: not available</li>" in page
    assert '<span class="overall-unhealthy">unhealthy</span>' in page


# -- the server ------------------------------------------------------------------------


@pytest.fixture
def dashboard_server(dashboard_database):
    from dnsscience._core import Connection

    server = DashboardServer(lambda: Connection(dashboard_database), port=0).start()
    yield server
    server.close()


def test_server_serves_page(dashboard_server):
    status, content_type, body = _fetch(dashboard_server.url)

    assert dashboard_server.url.startswith("http://127.0.0.1:")
    assert status == 200
    assert content_type == "text/html; charset=utf-8"
    assert "<h2>Certificate expiry</h2>" in body


def test_server_health_endpoint(dashboard_server):
    status, content_type, body = _fetch(dashboard_server.url + "health")

    document = json.loads(body)
    assert status == 503
    assert content_type == "application/json"
    assert document["healthy"] is False
    assert len(document["instances"]) == 2


def test_server_unknown_path(dashboard_server):
    status, _content_type, _body = _fetch(dashboard_server.url + "missing")

    assert status == 404


def test_server_database_error_page():
    from dnsscience._core import Connection

    from dnsscience.testbed.postgres import PostgresCluster

    # A private cluster, because stopping it deletes its data.
    cluster = PostgresCluster()
    cluster.start()
    try:
        server = DashboardServer(lambda: Connection(cluster.dsn), port=0).start()
    except BaseException:
        cluster.stop()
        raise
    try:
        cluster.stop()
        status, _content_type, body = _fetch(server.url)
    finally:
        server.close()

    assert status == 503
    assert "<h1>Database unavailable</h1>" in body


# -- a real browser --------------------------------------------------------------------


def _chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    pytest.skip("Chromium is not installed (Debian package chromium)")


def test_page_in_headless_chromium(dashboard_server, tmp_path):
    browser = _chromium()
    OUTPUT_DIR.mkdir(exist_ok=True)
    screenshot = OUTPUT_DIR / "dashboard.png"
    screenshot.unlink(missing_ok=True)
    common = [
        browser,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--window-size=1280,1300",
    ]

    shot = subprocess.run(
        [*common, f"--screenshot={screenshot}", dashboard_server.url],
        capture_output=True,
        text=True,
        timeout=120,
    )
    dom = subprocess.run(
        [*common, "--dump-dom", dashboard_server.url],
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert shot.returncode == 0, shot.stderr
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert screenshot.stat().st_size > 20_000
    assert dom.returncode == 0, dom.stderr
    assert "<h2>Open alerts (2)</h2>" in dom.stdout
    assert "<polyline" in dom.stdout
