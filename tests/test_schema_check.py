"""Tests of dnsscience.store.schema and the ``dnsscience db`` subcommands."""

import pytest

from dnsscience import InvalidArgumentError
from dnsscience.cli_db import add_db_parser
from dnsscience.store import schema


def gaps_of(pg_connect, dsn, scope="emaild"):
    return schema.check(pg_connect(dsn), scope=scope)


def test_migrated_database_has_no_gaps(migrated_database, pg_connect):
    for scope in schema.known_scopes():
        assert gaps_of(pg_connect, migrated_database, scope) == []


def test_migrated_legacy_database_has_no_gaps(migrated_legacy_database, pg_connect):
    assert gaps_of(pg_connect, migrated_legacy_database) == []


def test_legacy_database_lacks_new_tables(legacy_database, pg_connect):
    gaps = gaps_of(pg_connect, legacy_database)
    objects = {gap.object for gap in gaps if gap.required}
    assert "email_security_details" in objects
    assert "email_check_attempts" in objects
    optional = {gap.object for gap in gaps if not gap.required}
    assert "email_security_records.has_mta_sts" in optional
    assert "email_security_records.has_dane" in optional
    assert all("dnsscience db migrate" in gap.fix for gap in gaps)


def test_renamed_column_named(migrated_database, pg_connect, pg_cluster):
    pg_cluster.run_sql(migrated_database,
                       "ALTER TABLE email_security_records RENAME COLUMN spf_valid TO spf_ok")
    gaps = gaps_of(pg_connect, migrated_database)
    assert [(gap.object, gap.problem, gap.required) for gap in gaps] == [
        ("email_security_records.spf_valid", "column is missing", True)
    ]


def test_renamed_table_named(migrated_database, pg_connect, pg_cluster):
    pg_cluster.run_sql(migrated_database,
                       "ALTER TABLE email_security_details RENAME TO email_details_old")
    gaps = gaps_of(pg_connect, migrated_database)
    assert [gap.object for gap in gaps] == ["email_security_details"]
    assert gaps[0].problem == "table is missing"


def test_missing_unique_constraint_named(migrated_legacy_database, pg_connect, pg_cluster):
    pg_cluster.run_sql(
        migrated_legacy_database,
        "ALTER TABLE email_security_records DROP CONSTRAINT email_security_records_domain_id_key")
    gaps = gaps_of(pg_connect, migrated_legacy_database)
    assert len(gaps) == 1
    assert gaps[0].object == "email_security_records(domain_id)"
    assert gaps[0].required
    assert "no unique index on exactly (domain_id)" in gaps[0].problem
    assert "CREATE UNIQUE INDEX" in gaps[0].fix


def test_ssl_unique_constraint_named(migrated_legacy_database, pg_connect, pg_cluster):
    pg_cluster.run_sql(
        migrated_legacy_database,
        "ALTER TABLE ssl_certificates DROP CONSTRAINT ssl_certificates_domain_port_unique")
    gaps = gaps_of(pg_connect, migrated_legacy_database, "ssl_scanner")
    assert [gap.object for gap in gaps] == ["ssl_certificates(domain_name, port)"]


def test_wrong_column_type_named(migrated_database, pg_connect, pg_cluster):
    pg_cluster.run_sql(migrated_database,
                       "ALTER TABLE email_security_records ALTER COLUMN mx_records TYPE text")
    gaps = gaps_of(pg_connect, migrated_database)
    assert [gap.object for gap in gaps] == ["email_security_records.mx_records"]
    assert "type text" in gaps[0].problem


def test_missing_optional_index_is_optional(migrated_database, pg_connect, pg_cluster):
    pg_cluster.run_sql(migrated_database, "DROP INDEX idx_email_security_details_next_attempt")
    gaps = gaps_of(pg_connect, migrated_database)
    assert [(gap.object, gap.required) for gap in gaps] == [
        ("email_security_details(next_attempt_at)", False)
    ]


def test_unknown_scope_rejected(migrated_database, pg_connect):
    with pytest.raises(InvalidArgumentError, match="invalid schema scope 'nope'"):
        gaps_of(pg_connect, migrated_database, "nope")


def run_cli(argv, capsys):
    import argparse

    parser = argparse.ArgumentParser(prog="dnsscience")
    add_db_parser(parser.add_subparsers(dest="command", required=True))
    arguments = parser.parse_args(argv)
    status = arguments.handler(arguments)
    return status, capsys.readouterr().out


def test_cli_migrate_status_check(empty_database, capsys, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", empty_database)
    status, output = run_cli(["db", "check", "--scope", "emaild"], capsys)
    assert status == 4
    assert "[emaild] domains: table is missing (required)" in output
    status, output = run_cli(["db", "migrate"], capsys)
    assert status == 0
    assert "applied 001_legacy_tables" in output
    status, output = run_cli(["db", "status"], capsys)
    assert status == 0
    assert "001  legacy_tables" in output
    assert "applied" in output
    status, output = run_cli(["db", "check"], capsys)
    assert status == 0
    status, output = run_cli(["db", "migrate"], capsys)
    assert "up to date" in output
