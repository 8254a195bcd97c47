"""Tests of the PostgreSQL test-bed cluster and the database fixtures."""

import pytest

from dnsscience.testbed.postgres import PostgresCluster, PostgresClusterError


def test_cluster_listens_on_loopback(pg_cluster):
    assert pg_cluster.dsn.startswith("postgresql://postgres@127.0.0.1:")
    rows = pg_cluster.query(pg_cluster.dsn, "SELECT inet_server_addr()::text")
    assert rows == [["127.0.0.1/32"]]


def test_cluster_session_zone_is_not_utc(pg_cluster):
    rows = pg_cluster.query(pg_cluster.dsn, "SHOW TimeZone")
    assert rows == [["Pacific/Chatham"]]


def test_create_database_rejects_bad_name(pg_cluster):
    with pytest.raises(ValueError, match="invalid database name"):
        pg_cluster.create_database('x"; DROP DATABASE postgres; --')


def test_run_sql_reports_failing_statement(empty_database, pg_cluster):
    with pytest.raises(PostgresClusterError, match="no_such_table"):
        pg_cluster.run_sql(empty_database, "SELECT * FROM no_such_table")


def test_empty_database_has_no_tables(empty_database, pg_cluster):
    rows = pg_cluster.query(
        empty_database,
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'",
    )
    assert rows == [["0"]]


def test_legacy_database_has_platform_tables(legacy_database, pg_cluster):
    rows = pg_cluster.query(
        legacy_database,
        "SELECT table_name FROM information_schema.tables "
        "WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY 1",
    )
    assert [row[0] for row in rows] == [
        "certificate_history",
        "domains",
        "email_security_records",
        "schema_migrations",
        "ssl_certificates",
        "ssl_scan_queue",
        "ssl_scan_results",
        "system_config",
    ]
    versions = pg_cluster.query(legacy_database, "SELECT max(version), count(*) FROM schema_migrations")
    assert versions == [["014", "14"]]


def test_legacy_database_lacks_dane_columns(legacy_database, pg_cluster):
    rows = pg_cluster.query(
        legacy_database,
        "SELECT count(*) FROM information_schema.columns "
        "WHERE table_name = 'email_security_records' AND column_name IN ('has_dane', 'has_mta_sts')",
    )
    assert rows == [["0"]]


def test_database_fixtures_are_independent(legacy_database, pg_cluster, _legacy_template):
    pg_cluster.run_sql(legacy_database, "DELETE FROM system_config")
    copy = pg_cluster.create_database("independent_copy", template=_legacy_template)
    try:
        assert pg_cluster.query(legacy_database, "SELECT count(*) FROM system_config") == [["0"]]
        assert pg_cluster.query(copy, "SELECT count(*) FROM system_config") == [["2"]]
    finally:
        pg_cluster.drop_database("independent_copy")


def test_restart_keeps_data_and_port():
    with PostgresCluster() as cluster:
        port = cluster.port
        dsn = cluster.create_database("kept")
        cluster.run_sql(dsn, "CREATE TABLE t (x int); INSERT INTO t VALUES (42)")
        cluster.restart()
        assert cluster.port == port
        assert cluster.query(dsn, "SELECT x FROM t") == [["42"]]
        folder = cluster.folder
    assert not folder.exists()


def test_query_before_start_raises():
    cluster = PostgresCluster()
    with pytest.raises(PostgresClusterError, match="not started"):
        cluster.dsn
