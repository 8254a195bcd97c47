"""Tests of dnsscience.store.migrations on empty, legacy and concurrent databases."""

import threading
from dataclasses import replace

import pytest

from dnsscience import SchemaError
from dnsscience.store.migrations import (
    load_migrations,
    migrate,
    split_statements,
    status,
)

COLUMNS = """
SELECT table_name, column_name, data_type
FROM information_schema.columns
WHERE table_schema = 'public'
ORDER BY table_name, column_name
"""
ROW_COUNTS = """
SELECT 'domains', count(*) FROM domains UNION ALL
SELECT 'email_security_records', count(*) FROM email_security_records UNION ALL
SELECT 'ssl_certificates', count(*) FROM ssl_certificates UNION ALL
SELECT 'certificate_history', count(*) FROM certificate_history UNION ALL
SELECT 'ssl_scan_results', count(*) FROM ssl_scan_results UNION ALL
SELECT 'ssl_scan_queue', count(*) FROM ssl_scan_queue UNION ALL
SELECT 'system_config', count(*) FROM system_config UNION ALL
SELECT 'schema_migrations', count(*) FROM schema_migrations
"""


def test_files_are_ordered_with_checksums():
    migrations = load_migrations()
    versions = [migration.version for migration in migrations]
    assert versions == sorted(versions)
    assert versions[:2] == ["001", "002"]
    assert all(len(migration.checksum) == 64 for migration in migrations)


def test_migrate_empty_database(empty_database, pg_connect, pg_cluster):
    connection = pg_connect(empty_database)
    applied = migrate(connection)
    assert [migration.version for migration in applied] == [
        migration.version for migration in load_migrations()
    ]
    tables = {row[0] for row in pg_cluster.query(
        empty_database,
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'",
    )}
    assert {"domains", "email_security_records", "ssl_certificates",
            "email_security_details", "email_check_attempts",
            "dnsscience_migrations"} <= tables
    assert "schema_migrations" not in tables


def test_migrate_twice_applies_nothing(empty_database, pg_connect):
    connection = pg_connect(empty_database)
    migrate(connection)
    assert migrate(connection) == []
    assert {state.state for state in status(connection)} == {"applied"}


def test_migrations_recorded_with_metadata(migrated_database, pg_cluster):
    rows = pg_cluster.query(
        migrated_database,
        "SELECT version, name, length(checksum), execution_ms >= 0, applied_by, "
        "abs(extract(epoch FROM applied_at - (now() AT TIME ZONE 'UTC'))) < 600 "
        "FROM dnsscience_migrations ORDER BY version",
    )
    assert rows[0] == ["001", "legacy_tables", "64", "t", "postgres", "t"]
    assert rows[1][:2] == ["002", "email_details"]


def test_status_before_migrate_is_pending(empty_database, pg_connect):
    states = status(pg_connect(empty_database))
    assert [state.state for state in states] == ["pending"] * len(load_migrations())
    assert all(state.applied_at is None for state in states)


def test_legacy_database_only_gains(legacy_database, pg_connect, pg_cluster):
    columns_before = set(map(tuple, pg_cluster.query(legacy_database, COLUMNS)))
    counts_before = pg_cluster.query(legacy_database, ROW_COUNTS)
    platform_migrations = pg_cluster.query(legacy_database, "SELECT * FROM schema_migrations")
    records_before = pg_cluster.query(
        legacy_database, "SELECT * FROM email_security_records ORDER BY id")

    migrate(pg_connect(legacy_database))

    columns_after = set(map(tuple, pg_cluster.query(legacy_database, COLUMNS)))
    assert columns_before <= columns_after
    assert pg_cluster.query(legacy_database, ROW_COUNTS) == counts_before
    assert pg_cluster.query(legacy_database, "SELECT * FROM schema_migrations") == (
        platform_migrations
    )
    added = {(table, column) for table, column, _ in columns_after - columns_before}
    assert ("email_security_records", "has_dane") in added
    assert ("email_security_records", "mta_sts_mode") in added
    records_after = pg_cluster.query(
        legacy_database,
        "SELECT id, domain_id, has_mx, mx_count, mx_records, has_spf, spf_record, spf_valid, "
        "has_dmarc, dmarc_record, dmarc_policy, has_dkim, dkim_selectors, "
        "email_security_score, created_at, updated_at, last_checked "
        "FROM email_security_records ORDER BY id",
    )
    assert records_after == records_before


def test_legacy_unique_key_reused(legacy_database, pg_connect, pg_cluster):
    migrate(pg_connect(legacy_database))
    rows = pg_cluster.query(
        legacy_database,
        "SELECT indexrelid::regclass::text FROM pg_index "
        "WHERE indrelid = 'email_security_records'::regclass AND indisunique "
        "AND NOT indisprimary ORDER BY 1",
    )
    assert rows == [["email_security_records_domain_id_key"]]
    constraints = pg_cluster.query(
        legacy_database,
        "SELECT conname FROM pg_constraint WHERE conrelid = 'ssl_certificates'::regclass "
        "AND contype = 'u'",
    )
    assert constraints == [["ssl_certificates_domain_port_unique"]]


def test_missing_unique_key_created(legacy_database, pg_connect, pg_cluster):
    pg_cluster.run_sql(
        legacy_database,
        "ALTER TABLE email_security_records DROP CONSTRAINT email_security_records_domain_id_key;"
        "ALTER TABLE ssl_certificates DROP CONSTRAINT ssl_certificates_domain_port_unique",
    )
    migrate(pg_connect(legacy_database))
    rows = pg_cluster.query(
        legacy_database,
        "SELECT count(*) FROM pg_index WHERE indisunique AND NOT indisprimary AND "
        "indrelid IN ('email_security_records'::regclass, 'ssl_certificates'::regclass)",
    )
    assert rows == [["2"]]


def test_changed_file_is_detected(migrated_database, pg_connect):
    connection = pg_connect(migrated_database)
    migrations = load_migrations()
    edited = replace(migrations[0], sql=migrations[0].sql + "\n-- edited\n",
                     checksum="0" * 64)
    changed = [edited] + migrations[1:]
    states = status(connection, changed)
    assert states[0].state == "changed"
    assert states[1].state == "applied"
    with pytest.raises(SchemaError, match="001_legacy_tables"):
        migrate(connection, changed)


def test_failed_migration_rolls_back(empty_database, pg_connect, pg_cluster):
    connection = pg_connect(empty_database)
    migrations = load_migrations()
    broken = replace(migrations[0], version="900", name="broken",
                     sql="CREATE TABLE half_done (x int); SELECT * FROM no_such_table;")
    migrate(connection)
    with pytest.raises(SchemaError, match="900_broken"):
        migrate(connection, migrations + [broken])
    rows = pg_cluster.query(empty_database, "SELECT to_regclass('half_done') IS NULL")
    assert rows == [["t"]]
    assert status(connection, migrations + [broken])[-1].state == "pending"


def test_concurrent_migrations_serialize(empty_database, pg_connect, pg_cluster):
    connections = [pg_connect(empty_database), pg_connect(empty_database)]
    results = [None, None]
    errors = []

    def run(index):
        try:
            results[index] = migrate(connections[index])
        except Exception as error:  # noqa: BLE001 - reported by the assert below
            errors.append(error)

    threads = [threading.Thread(target=run, args=(index,)) for index in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    versions = sorted(m.version for result in results for m in result)
    assert versions == [migration.version for migration in load_migrations()]
    rows = pg_cluster.query(empty_database, "SELECT count(*) FROM dnsscience_migrations")
    assert rows == [[str(len(load_migrations()))]]


def test_no_transaction_migration(empty_database, pg_connect, pg_cluster):
    connection = pg_connect(empty_database)
    migrations = load_migrations()
    concurrent = replace(
        migrations[0], version="901", name="concurrent_index",
        sql="-- dnsscience: no-transaction\n\n"
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_test_domains_created "
            "ON domains (created_at);\n",
    )
    assert not concurrent.transactional
    applied = migrate(connection, migrations + [concurrent])
    assert applied[-1].version == "901"
    rows = pg_cluster.query(empty_database, "SELECT to_regclass('idx_test_domains_created') IS NOT NULL")
    assert rows == [["t"]]


def test_split_statements_respects_quotes():
    sql = (
        "-- a comment; not a split\n"
        "SELECT 'a;b', \"x;y\";\n"
        "DO $$ BEGIN PERFORM 1; END $$;\n"
        "/* block; comment */ SELECT $tag$ ; $tag$;\n"
        "-- trailing comment\n"
    )
    assert split_statements(sql) == [
        "-- a comment; not a split\nSELECT 'a;b', \"x;y\"",
        "DO $$ BEGIN PERFORM 1; END $$",
        "/* block; comment */ SELECT $tag$ ; $tag$",
    ]
