"""Tests of dnsscience._core.Connection against the loopback PostgreSQL cluster."""

import threading

import pytest

from dnsscience import DatabaseError, InvalidArgumentError, SchemaError
from dnsscience._core import Connection


def test_execute_returns_columns_rows_rowcount(empty_database, pg_connect):
    connection = pg_connect(empty_database)
    columns, rows, rowcount = connection.execute(
        "SELECT $1::int + 1 AS next, $2::text AS nothing", ["41", None]
    )
    assert columns == ["next", "nothing"]
    assert rows == [("42", None)]
    assert rowcount == 1


def test_execute_reports_affected_rows(empty_database, pg_connect):
    connection = pg_connect(empty_database)
    connection.execute("CREATE TABLE t (x int)")
    _, _, inserted = connection.execute("INSERT INTO t SELECT generate_series(1, 5)")
    _, _, deleted = connection.execute("DELETE FROM t WHERE x > $1::int", ["3"])
    assert inserted == 5
    assert deleted == 2


def test_execute_without_params_runs_several_statements(empty_database, pg_connect):
    connection = pg_connect(empty_database)
    _, rows, _ = connection.execute("CREATE TABLE t (x int); INSERT INTO t VALUES (7); SELECT x FROM t")
    assert rows == [("7",)]


def test_transaction_commits_every_statement(empty_database, pg_connect):
    connection = pg_connect(empty_database)
    connection.execute("CREATE TABLE t (x int)")
    results = connection.transaction([
        ("INSERT INTO t VALUES ($1::int)", ["1"]),
        ("INSERT INTO t VALUES ($1::int)", ["2"]),
        ("SELECT count(*) FROM t", []),
    ])
    assert len(results) == 3
    assert results[2][1] == [("2",)]


def test_transaction_rolls_back_on_error(empty_database, pg_connect):
    connection = pg_connect(empty_database)
    connection.execute("CREATE TABLE t (x int PRIMARY KEY)")
    with pytest.raises(DatabaseError, match="23505"):
        connection.transaction([
            ("INSERT INTO t VALUES (1)", []),
            ("INSERT INTO t VALUES (1)", []),
        ])
    _, rows, _ = connection.execute("SELECT count(*) FROM t")
    assert rows == [("0",)]


def test_missing_table_is_schema_error(empty_database, pg_connect):
    connection = pg_connect(empty_database)
    with pytest.raises(SchemaError, match="42P01") as raised:
        connection.execute("SELECT * FROM no_such_table")
    assert "no_such_table" in str(raised.value)
    assert raised.value.kind == "schema"


def test_missing_column_is_schema_error(empty_database, pg_connect):
    connection = pg_connect(empty_database)
    connection.execute("CREATE TABLE t (x int)")
    with pytest.raises(SchemaError, match="42703"):
        connection.execute("SELECT y FROM t")


def test_missing_conflict_constraint_is_schema_error(empty_database, pg_connect):
    connection = pg_connect(empty_database)
    connection.execute("CREATE TABLE t (x int, y int)")
    with pytest.raises(SchemaError, match="42P10"):
        connection.execute("INSERT INTO t VALUES (1, 2) ON CONFLICT (x) DO NOTHING")


def test_invalid_parameter_value_is_invalid_argument(empty_database, pg_connect):
    connection = pg_connect(empty_database)
    with pytest.raises(InvalidArgumentError, match="22P02"):
        connection.execute("SELECT $1::int", ["not a number"])


def test_error_names_failing_statement(empty_database, pg_connect):
    connection = pg_connect(empty_database)
    connection.execute("CREATE TABLE t (x int)")
    with pytest.raises(SchemaError) as raised:
        connection.transaction([("SELECT 1", []), ("SELECT missing_column FROM t", [])])
    assert "SELECT missing_column FROM t" in str(raised.value)


def test_closed_connection_rejects_calls(empty_database):
    connection = Connection(empty_database)
    connection.close()
    assert not connection.is_open
    with pytest.raises(InvalidArgumentError, match="closed"):
        connection.execute("SELECT 1")


def test_reconnects_after_server_restart(pg_cluster, empty_database, pg_connect):
    connection = pg_connect(empty_database)
    connection.execute("CREATE TABLE t (x int)")
    pg_cluster.restart()
    _, rows, _ = connection.execute("SELECT count(*) FROM t")
    assert rows == [("0",)]


def test_terminated_session_is_reopened(empty_database, pg_connect):
    connection = pg_connect(empty_database)
    killer = pg_connect(empty_database)
    _, rows, _ = connection.execute("SELECT pg_backend_pid()")
    killer.execute("SELECT pg_terminate_backend($1::int)", [rows[0][0]])
    _, after, _ = connection.execute("SELECT pg_backend_pid()")
    assert after[0][0] != rows[0][0]


def test_password_not_in_connection_error(pg_cluster):
    url = f"postgresql://nobody:Pa55-word-xyz@127.0.0.1:{pg_cluster.port}/missing_db"
    with pytest.raises(DatabaseError) as raised:
        Connection(url)
    assert "Pa55-word-xyz" not in str(raised.value)
    assert raised.value.retryable


def test_gil_released_during_query(empty_database, pg_connect):
    connection = pg_connect(empty_database)
    ticks = []
    stop = threading.Event()

    def tick():
        while not stop.is_set():
            ticks.append(1)
            stop.wait(0.01)

    ticker = threading.Thread(target=tick)
    ticker.start()
    try:
        connection.execute("SELECT pg_sleep(0.5)")
    finally:
        stop.set()
        ticker.join()
    assert len(ticks) >= 10
