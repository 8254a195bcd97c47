"""Tests of the domain list: dnsscience.store.domains and ``dnsscience domains``."""

from __future__ import annotations

import pytest

from dnsscience.cli import main
from dnsscience.errors import InvalidArgumentError
from dnsscience.store.domains import (
    _text_array,
    add_domains,
    deactivate_domains,
    normalize_names,
    read_domain_file,
    recheck_domains,
)


def domain_rows(connection) -> dict[str, bool]:
    _columns, rows, _count = connection.execute(
        "SELECT domain_name, is_active FROM domains ORDER BY domain_name"
    )
    return {name: active == "t" for name, active in rows}


# -- reading files ------------------------------------------------------------------


def test_read_plain_list(tmp_path):
    path = tmp_path / "names.txt"
    path.write_text("# a comment\nexample.com\n\n  Example.ORG.  \nbad..name\n")

    assert read_domain_file(path) == [(2, "example.com"), (4, "Example.ORG."), (5, "bad..name")]


def test_read_csv_with_domain_column(tmp_path):
    path = tmp_path / "names.csv"
    path.write_text("\nrank,Domain_Name,owner\n1,example.com,alice\n2,,bob\n\n3,example.net\n")

    assert read_domain_file(path) == [(3, "example.com"), (4, ""), (6, "example.net")]


def test_read_single_column_csv(tmp_path):
    path = tmp_path / "names.csv"
    path.write_text("Domain\nexample.com\n")

    assert read_domain_file(path) == [(2, "example.com")]


def test_read_csv_domain_header(tmp_path):
    path = tmp_path / "names.csv"
    path.write_text('\ufeffdomain,note\nexample.com,"x, y"\n')

    assert read_domain_file(path) == [(2, "example.com")]


def test_read_tranco_rank_domain(tmp_path):
    path = tmp_path / "top-1m.csv"
    path.write_text("1,google.com\n2,youtube.com\n")

    assert read_domain_file(path) == [(1, "google.com"), (2, "youtube.com")]


def test_read_csv_without_domain_column(tmp_path):
    path = tmp_path / "names.csv"
    path.write_text("host,owner\nexample.com,alice\n")

    with pytest.raises(InvalidArgumentError, match="no 'domain' or 'domain_name' column"):
        read_domain_file(path)


def test_read_missing_file(tmp_path):
    with pytest.raises(InvalidArgumentError, match="cannot read the domain list"):
        read_domain_file(tmp_path / "absent.txt")


def test_normalize_names_reports_problems():
    valid, problems, duplicates = normalize_names(
        ["Example.COM.", (7, "a..b"), "example.com", "bücher.de"]
    )

    assert valid == ["example.com", "xn--bcher-kva.de"]
    assert duplicates == 1
    assert len(problems) == 1
    assert problems[0].line == 7
    assert problems[0].describe().startswith("line 7: 'a..b': ")


# -- the table ------------------------------------------------------------------------


def test_add_domains_counts(migrated_database, pg_connect):
    connection = pg_connect(migrated_database)

    first = add_domains(connection, ["Example.COM.", "example.net", "a..b", "example.net"])
    second = add_domains(connection, ["example.com", "example.org"])

    assert first.added == ["example.com", "example.net"]
    assert first.duplicates == 1
    assert [problem.name for problem in first.invalid] == ["a..b"]
    assert second.added == ["example.org"]
    assert second.already_present == ["example.com"]
    assert domain_rows(connection) == {
        "example.com": True,
        "example.net": True,
        "example.org": True,
    }


def test_add_domains_created_at_in_utc(migrated_database, pg_connect):
    # The test cluster's session zone is Pacific/Chatham, 12:45 or 13:45 ahead of UTC.
    connection = pg_connect(migrated_database)
    add_domains(connection, ["example.com"])

    _columns, rows, _count = connection.execute(
        "SELECT abs(extract(epoch FROM created_at - (now() AT TIME ZONE 'UTC'))) "
        "FROM domains WHERE domain_name = 'example.com'"
    )

    assert float(rows[0][0]) < 60


def test_add_domains_reactivates(migrated_database, pg_connect):
    connection = pg_connect(migrated_database)
    add_domains(connection, ["example.com", "example.net"])

    deactivated, missing, invalid = deactivate_domains(
        connection, ["EXAMPLE.com", "absent.example", "bad..name"]
    )
    summary = add_domains(connection, ["example.com"])

    assert deactivated == ["example.com"]
    assert missing == ["absent.example"]
    assert [problem.name for problem in invalid] == ["bad..name"]
    assert summary.reactivated == ["example.com"]
    assert domain_rows(connection) == {"example.com": True, "example.net": True}


def test_add_domains_in_several_statements(migrated_database, pg_connect, monkeypatch):
    monkeypatch.setattr("dnsscience.store.domains.WRITE_BATCH", 3)
    connection = pg_connect(migrated_database)

    summary = add_domains(connection, [f"d{number}.example" for number in range(8)])

    assert len(summary.added) == 8
    assert len(domain_rows(connection)) == 8


def test_text_array_round_trip(empty_database, pg_connect):
    connection = pg_connect(empty_database)
    values = ['a"b', "c\\d", "e,f", "{g}", "NULL", " space ", ""]

    _columns, rows, _count = connection.execute("SELECT unnest($1::text[])", [_text_array(values)])

    assert [row[0] for row in rows] == values


def test_add_to_legacy_database(migrated_legacy_database, pg_connect):
    connection = pg_connect(migrated_legacy_database)
    before = domain_rows(connection)
    existing = next(iter(before))

    summary = add_domains(connection, [existing, "new-domain.example"])

    assert summary.added == ["new-domain.example"]
    assert existing in summary.already_present + summary.reactivated


def _mark_checked_now(connection) -> None:
    """Make every domain look freshly checked by emaild and ssl-scanner."""
    connection.transaction(
        [
            (
                "INSERT INTO email_security_records (domain_id, last_checked) "
                "SELECT id, now() AT TIME ZONE 'UTC' FROM domains",
                [],
            ),
            (
                "UPDATE domains SET last_ssl_scan = now() AT TIME ZONE 'UTC', "
                "tls_next_attempt_at = now() + interval '7 days'",
                [],
            ),
        ]
    )


def _claims(connection) -> tuple[list[str], list[str]]:
    from dnsscience.store import email, tls

    email_names = [
        name
        for _id, name in email.claim_due(
            connection, limit=10, rescan_days=7, instance="test:1", lease_seconds=60
        )
    ]
    tls_names = [
        claim.domain_name
        for claim in tls.claim_due_for_scan(
            connection, limit=10, rescan_days=7, instance="test:1", lease_seconds=60
        )
    ]
    return email_names, tls_names


def test_recheck_makes_domains_due(migrated_database, pg_connect):
    connection = pg_connect(migrated_database)
    add_domains(connection, ["example.com", "example.net", "inactive.example"])
    deactivate_domains(connection, ["inactive.example"])
    _mark_checked_now(connection)
    before = _claims(connection)

    scheduled, missing, invalid = recheck_domains(
        connection, ["Example.COM", "inactive.example", "absent.example", "bad..name"]
    )

    assert before == ([], [])
    assert scheduled == ["example.com"]
    assert missing == ["inactive.example", "absent.example"]
    assert [problem.name for problem in invalid] == ["bad..name"]
    assert _claims(connection) == (["example.com"], ["example.com"])


# -- the command -----------------------------------------------------------------------


def test_domains_add_command(migrated_database, monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", migrated_database)

    status = main(["domains", "add", "example.com", "bad..name", "Example.com"])

    output = capsys.readouterr().out.splitlines()
    assert status == 1
    assert "added: 1" in output
    assert "duplicates in the input: 1" in output
    assert "invalid: 1" in output
    assert any(line.startswith("  'bad..name': ") for line in output)


def test_domains_import_command(migrated_database, monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("DATABASE_URL", migrated_database)
    path = tmp_path / "list.csv"
    path.write_text("domain\nexample.com\nexample.net\n")

    status = main(["domains", "import", str(path)])

    output = capsys.readouterr().out.splitlines()
    assert status == 0
    assert output[0] == f"read 2 names from {path}"
    assert "added: 2" in output
    assert "invalid: 0" in output


def test_domains_import_reports_line_numbers(migrated_database, monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("DATABASE_URL", migrated_database)
    path = tmp_path / "list.txt"
    path.write_text("example.com\nnot a domain\n")

    status = main(["domains", "import", str(path)])

    output = capsys.readouterr().out
    assert status == 1
    assert "  line 2: 'not a domain': " in output


def test_domains_import_missing_file(migrated_database, monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("DATABASE_URL", migrated_database)

    status = main(["domains", "import", str(tmp_path / "absent.txt")])

    assert status == 2
    assert "cannot read the domain list" in capsys.readouterr().err


def test_domains_deactivate_command(migrated_database, monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", migrated_database)
    main(["domains", "add", "example.com"])
    capsys.readouterr()

    status = main(["domains", "deactivate", "example.com", "absent.example"])

    output = capsys.readouterr().out.splitlines()
    assert status == 1
    assert output == ["deactivated: 1", "not found: 1", "  absent.example", "invalid: 0"]


def test_domains_recheck_command(migrated_database, monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", migrated_database)
    main(["domains", "add", "example.com"])
    capsys.readouterr()

    status = main(["domains", "recheck", "example.com", "absent.example"])

    output = capsys.readouterr().out.splitlines()
    assert status == 1
    assert output == [
        "due now for email and TLS checks: 1",
        "not found or inactive: 1",
        "  absent.example",
        "invalid: 0",
    ]
