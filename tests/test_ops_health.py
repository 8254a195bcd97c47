"""Tests of heartbeats (dnsscience.store.heartbeat), health judgement and ``dnsscience health``."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from dnsscience.cli import main
from dnsscience.health import HealthReport, check_health, evaluate, format_duration, format_report
from dnsscience.store.heartbeat import (
    Heartbeat,
    HeartbeatRow,
    delete_heartbeats_before,
    read_heartbeats,
)

NOW = datetime(2026, 1, 10, 12, 0, tzinfo=timezone.utc)


def row(**changes) -> HeartbeatRow:
    values = dict(
        daemon="dnsscience_emaild",
        host="host-a",
        pid=100,
        version="1.0",
        started_at=NOW - timedelta(hours=2),
        last_beat_at=NOW - timedelta(seconds=10),
        state="working",
        idle_seconds=30.0,
        last_batch_size=500,
        last_batch_seconds=12.0,
        last_progress_at=NOW - timedelta(seconds=10),
        items_total=10_000,
        rate_per_second=40.0,
        errors={},
        read_at=NOW,
    )
    values.update(changes)
    return HeartbeatRow(**values)


class FakeClock:
    def __init__(self, start: float = 1_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


def set_beat_age(connection, pid: int, seconds: int) -> None:
    connection.execute(
        "UPDATE daemon_heartbeats SET last_beat_at = now() - make_interval(secs => $1::int) "
        "WHERE pid = $2::int",
        [str(seconds), str(pid)],
    )


# -- judgement, no database -----------------------------------------------------


def test_format_duration_units():
    assert format_duration(0) == "0s"
    assert format_duration(59.6) == "1m"
    assert format_duration(605) == "10m 5s"
    assert format_duration(3600) == "1h"
    assert format_duration(3 * 3600 + 120) == "3h 2m"
    assert format_duration(2 * 86400 + 4 * 3600) == "2d 4h"


def test_fresh_working_instance_is_ok():
    report = evaluate([row()])
    assert report.healthy
    assert report.instances[0].status == "ok"
    assert report.instances[0].detail == "working, 40.0 items/s"


def test_idle_instance_is_ok():
    report = evaluate([row(state="idle", last_progress_at=NOW - timedelta(days=2))])
    assert report.instances[0].status == "ok"
    assert report.healthy


def test_stale_after_three_idle_intervals():
    # The limit is 3 x max(idle 30 s, last batch 12 s) = 90 s.
    fresh = evaluate([row(last_beat_at=NOW - timedelta(seconds=89))])
    stale = evaluate([row(last_beat_at=NOW - timedelta(seconds=91))])
    assert fresh.instances[0].status == "ok"
    assert stale.instances[0].status == "stale"
    assert stale.instances[0].detail == "no beat for 1m 31s (limit 1m 30s)"
    assert not stale.healthy


def test_long_batches_extend_stale_limit():
    report = evaluate([row(last_batch_seconds=100.0, last_beat_at=NOW - timedelta(seconds=250))])
    assert report.instances[0].status == "ok"


def test_stale_factor_is_configurable():
    report = evaluate([row(last_beat_at=NOW - timedelta(seconds=70))], stale_factor=2.0)
    assert report.instances[0].status == "stale"


def test_working_without_progress_is_stalled():
    beat = row(last_progress_at=NOW - timedelta(minutes=45), errors={"timeout": 900})
    report = evaluate([beat])
    assert report.instances[0].status == "stalled"
    assert report.instances[0].detail == (
        "stored nothing for 45m while working; errors timeout 900"
    )
    assert not report.healthy


def test_never_progressed_since_start_is_stalled():
    beat = row(last_progress_at=None, started_at=NOW - timedelta(hours=1))
    report = evaluate([beat], progress_seconds=1800)
    assert report.instances[0].status == "stalled"
    assert "since it started" in report.instances[0].detail


def test_stopped_instance_is_healthy():
    report = evaluate([row(state="stopped", last_beat_at=NOW - timedelta(hours=5))])
    assert report.instances[0].status == "stopped"
    assert report.healthy


def test_restarted_instance_replaces_stale_one():
    crashed = row(
        pid=100, started_at=NOW - timedelta(hours=3), last_beat_at=NOW - timedelta(minutes=20)
    )
    restarted = row(pid=200, started_at=NOW - timedelta(minutes=19))
    report = evaluate([crashed, restarted])
    assert [instance.status for instance in report.instances] == ["replaced", "ok"]
    assert report.healthy


def test_restart_on_other_host_does_not_replace():
    crashed = row(pid=100, last_beat_at=NOW - timedelta(minutes=20))
    other = row(pid=200, host="host-b", started_at=NOW - timedelta(minutes=19))
    report = evaluate([crashed, other])
    assert report.instances[0].status == "stale"
    assert not report.healthy


def test_no_instance_is_unhealthy():
    report = evaluate([])
    assert not report.healthy
    assert report.problems == ["no daemon instance has beaten in the time window"]


def test_expected_daemon_missing():
    report = evaluate([row()], expected=["dnsscience_emaild", "dnsscience_ssl_scanner"])
    assert report.missing == ["dnsscience_ssl_scanner"]
    assert not report.healthy
    assert "dnsscience_ssl_scanner: no live instance" in report.problems


def test_evaluate_rejects_bad_limits():
    with pytest.raises(ValueError, match="stale factor"):
        evaluate([row()], stale_factor=1.0)
    with pytest.raises(ValueError, match="progress window"):
        evaluate([row()], progress_seconds=0)


def test_format_report_lists_problems():
    text = format_report(
        evaluate([row(), row(pid=7, host="host-b", last_beat_at=NOW - timedelta(hours=1))])
    )
    lines = text.splitlines()
    assert lines[0].split()[:4] == ["DAEMON", "HOST", "PID", "VERSION"]
    assert "STALE" in lines[2]
    assert lines[-1].startswith("  dnsscience_emaild on host-b (pid 7) is stale")


def test_report_to_dict_is_json():
    document = json.loads(json.dumps(evaluate([row()]).to_dict()))
    assert document["healthy"] is True
    assert document["instances"][0]["status"] == "ok"
    assert document["instances"][0]["last_beat_at"] == "2026-01-10T11:59:50+00:00"


# -- Heartbeat and the table ----------------------------------------------------


def test_heartbeat_rejects_bad_arguments():
    with pytest.raises(ValueError, match="daemon name is empty"):
        Heartbeat("", idle_seconds=30)
    with pytest.raises(ValueError, match="must be positive"):
        Heartbeat("d", idle_seconds=0)


def test_heartbeat_rate_over_window():
    clock = FakeClock()
    heartbeat = Heartbeat("d", idle_seconds=30, clock=clock)

    class NullConnection:
        def execute(self, sql, params=()):
            return [], [], 1

    clock.now += 100
    heartbeat.beat(NullConnection(), batch_size=500, batch_seconds=10)
    assert heartbeat.rate_per_second() == pytest.approx(5.0)
    clock.now += 400
    heartbeat.beat(NullConnection(), batch_size=300, batch_seconds=10)
    # The first batch left the 300-second window.
    assert heartbeat.rate_per_second() == pytest.approx(1.0)


def test_heartbeat_rate_right_after_start():
    clock = FakeClock()
    heartbeat = Heartbeat("d", idle_seconds=30, clock=clock)

    class NullConnection:
        def execute(self, sql, params=()):
            return [], [], 1

    # No time has passed since the start: the batch's own duration is the span.
    heartbeat.beat(NullConnection(), batch_size=40, batch_seconds=4)
    assert heartbeat.rate_per_second() == pytest.approx(10.0)


def test_heartbeat_round_trip(migrated_database, pg_connect):
    connection = pg_connect(migrated_database)
    heartbeat = Heartbeat(
        "dnsscience_emaild", idle_seconds=30, host="host-a", pid=4242, version="9.9"
    )

    assert heartbeat.start(connection)
    assert heartbeat.beat(
        connection, batch_size=250, batch_seconds=5.5, errors={"timeout": 3, "servfail": 0}
    )

    [stored] = read_heartbeats(connection, 3600)
    assert (stored.daemon, stored.host, stored.pid, stored.version) == (
        "dnsscience_emaild",
        "host-a",
        4242,
        "9.9",
    )
    assert stored.state == "working"
    assert stored.last_batch_size == 250
    assert stored.last_batch_seconds == 5.5
    assert stored.items_total == 250
    assert stored.errors == {"timeout": 3}
    assert stored.last_progress_at is not None
    assert abs((stored.read_at - stored.last_beat_at).total_seconds()) < 5
    assert stored.started_at.tzinfo is timezone.utc


def test_heartbeat_throttles_same_state(migrated_database, pg_connect):
    connection = pg_connect(migrated_database)
    clock = FakeClock()
    heartbeat = Heartbeat("d", idle_seconds=30, pid=1, clock=clock)

    assert heartbeat.beat(connection, batch_size=10, batch_seconds=1)
    clock.now += 1
    assert not heartbeat.beat(connection, batch_size=10, batch_seconds=1)
    assert heartbeat.idle(connection)
    clock.now += 6
    assert heartbeat.beat(connection, batch_size=5, batch_seconds=1, errors={"timeout": 2})

    [stored] = read_heartbeats(connection, 3600)
    assert stored.items_total == 25
    assert stored.errors == {"timeout": 2}


def test_heartbeat_stop_marks_stopped(migrated_database, pg_connect):
    connection = pg_connect(migrated_database)
    heartbeat = Heartbeat("d", idle_seconds=30, pid=2)
    heartbeat.start(connection)
    heartbeat.stop(connection)

    [stored] = read_heartbeats(connection, 3600)
    assert stored.state == "stopped"


def test_heartbeat_write_failure_is_logged(empty_database, pg_connect, caplog):
    # The table does not exist in an empty database, so every write fails.
    connection = pg_connect(empty_database)
    heartbeat = Heartbeat("dnsscience_emaild", idle_seconds=30, pid=3)

    with caplog.at_level("WARNING", logger="dnsscience.store.heartbeat"):
        assert not heartbeat.start(connection)
        assert not heartbeat.stop(connection)

    assert caplog.text.count("could not be written") == 1


def test_read_heartbeats_ignores_old_rows(migrated_database, pg_connect):
    connection = pg_connect(migrated_database)
    Heartbeat("d", idle_seconds=30, pid=10).start(connection)
    Heartbeat("d", idle_seconds=30, pid=11).start(connection)
    set_beat_age(connection, 11, 7200)

    assert [beat.pid for beat in read_heartbeats(connection, 3600)] == [10]


def test_delete_heartbeats_before(migrated_database, pg_connect):
    connection = pg_connect(migrated_database)
    Heartbeat("d", idle_seconds=30, pid=20).start(connection)
    Heartbeat("d", idle_seconds=30, pid=21).start(connection)
    set_beat_age(connection, 21, 8 * 86400)

    assert delete_heartbeats_before(connection, 7) == 1
    assert [beat.pid for beat in read_heartbeats(connection, 30 * 86400)] == [20]
    with pytest.raises(ValueError, match="at least 1 day"):
        delete_heartbeats_before(connection, 0)


def test_check_health_against_database(migrated_database, pg_connect):
    connection = pg_connect(migrated_database)
    Heartbeat("dnsscience_emaild", idle_seconds=30, pid=30).start(connection)
    Heartbeat("dnsscience_ssl_scanner", idle_seconds=30, pid=31).start(connection)
    set_beat_age(connection, 31, 600)

    report = check_health(connection)

    assert isinstance(report, HealthReport)
    statuses = {instance.heartbeat.pid: instance.status for instance in report.instances}
    assert statuses == {30: "ok", 31: "stale"}


# -- the command ------------------------------------------------------------------


def test_health_command_healthy(migrated_database, pg_connect, monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", migrated_database)
    connection = pg_connect(migrated_database)
    heartbeat = Heartbeat("dnsscience_emaild", idle_seconds=30, host="host-a", pid=40)
    heartbeat.beat(connection, batch_size=100, batch_seconds=2)

    status = main(["health", "--expect", "dnsscience_emaild"])

    output = capsys.readouterr().out
    assert status == 0
    assert "dnsscience_emaild  host-a" in output
    assert output.rstrip().endswith("All instances healthy.")


def test_health_command_unhealthy_json(migrated_database, pg_connect, monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", migrated_database)
    connection = pg_connect(migrated_database)
    Heartbeat("dnsscience_emaild", idle_seconds=30, pid=50).start(connection)
    set_beat_age(connection, 50, 3600)

    status = main(["health", "--json"])

    document = json.loads(capsys.readouterr().out)
    assert status == 1
    assert document["healthy"] is False
    assert document["instances"][0]["status"] == "stale"


def test_health_command_without_table(empty_database, monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", empty_database)

    status = main(["health"])

    assert status == 4
    assert "daemon_heartbeats" in capsys.readouterr().err


def test_health_command_unreachable_database(monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none?connect_timeout=2")

    status = main(["health"])

    assert status == 4
    assert "database error" in capsys.readouterr().err
