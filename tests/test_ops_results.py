"""Tests of reading stored results: dnsscience.store.records and ``dnsscience results``."""

from __future__ import annotations

import builtins
import csv
import io
import json

import pytest

from dnsscience.cli import main
from dnsscience.errors import InvalidArgumentError
from dnsscience.store.records import email_results, tls_results


def populate(connection) -> None:
    """Store one email result with two attempts and two certificates with history."""
    connection.transaction([
        ("INSERT INTO domains (domain_name) VALUES ('example.com'), ('example.net')", []),
        ("INSERT INTO email_security_records (domain_id, has_mx, mx_count, mx_records, "
         "has_spf, spf_record, spf_valid, last_checked) SELECT id, TRUE, 1, "
         "ARRAY['mx.example.com'], TRUE, 'v=spf1 -all', TRUE, '2026-01-02 03:04:05' "
         "FROM domains WHERE domain_name = 'example.com'", []),
        ("INSERT INTO email_check_attempts (domain_id, instance, finished_at, outcome, "
         "complete, error) SELECT id, 'h:1', t, o, o = 'complete', NULL FROM domains, "
         "(VALUES (timestamp '2026-01-01 00:00:00', 'transient'), "
         "(timestamp '2026-01-02 03:04:05', 'complete')) AS a(t, o) "
         "WHERE domain_name = 'example.com'", []),
        ("INSERT INTO ssl_certificates (domain_name, port, subject_cn, issuer_cn, valid_from, "
         "valid_to, expires_at, last_checked) VALUES "
         "('example.com', 443, 'example.com', 'Test CA', '2025-12-01', '2026-03-01', "
         "'2026-03-01', '2026-01-02 03:04:05'), "
         "('legacy.example', 443, 'legacy.example', 'Old CA', NULL, NULL, "
         "'2027-01-01', '2026-01-02 03:04:05')", []),
        ("INSERT INTO certificate_details (domain_name, port, status, trusted, sans, "
         "not_before, not_after, sha256_fingerprint, key_type, key_bits, first_seen_at, "
         "last_seen_at) VALUES ('example.com', 443, 'ok', TRUE, '[\"example.com\"]', "
         "'2025-12-01T00:00:00Z', '2026-03-01T00:00:00Z', 'bb', 'RSA', 2048, "
         "'2025-12-02T00:00:00Z', '2026-01-02T03:04:05Z')", []),
        ("INSERT INTO certificate_changes (domain_name, port, detected_at, "
         "sha256_fingerprint, previous_sha256_fingerprint) VALUES "
         "('example.com', 443, '2025-09-01T00:00:00Z', 'aa', NULL), "
         "('example.com', 443, '2025-12-02T00:00:00Z', 'bb', 'aa')", []),
        ("INSERT INTO tls_scan_attempts (domain_name, port, attempted_at, status, reason, "
         "transient) VALUES ('example.com', 443, '2026-01-01T00:00:00Z', 'error', "
         "'timeout', TRUE), ('example.com', 443, '2026-01-02T03:04:05Z', 'ok', NULL, "
         "FALSE)", []),
    ])


@pytest.fixture
def results_database(migrated_database, pg_connect):
    populate(pg_connect(migrated_database))
    return migrated_database


# -- Python API --------------------------------------------------------------------------


def test_tls_results_join_legacy_and_details(results_database, pg_connect):
    records = tls_results(pg_connect(results_database))

    assert [(record["domain_name"], record["port"]) for record in records] == [
        ("example.com", 443),
        ("legacy.example", 443),
    ]
    detailed, legacy = records
    assert detailed["status"] == "ok"
    assert detailed["trusted"] is True
    assert detailed["key_bits"] == 2048
    assert detailed["sans"] == ["example.com"]
    assert detailed["not_after"] == "2026-03-01T00:00:00Z"
    assert detailed["last_checked"] == "2026-01-02T03:04:05Z"
    assert legacy["status"] is None
    assert legacy["issuer_cn"] == "Old CA"
    assert legacy["not_after"] == "2027-01-01T00:00:00Z"


def test_tls_results_history(results_database, pg_connect):
    [record] = tls_results(pg_connect(results_database), ["EXAMPLE.com."], history=True)

    assert [change["sha256_fingerprint"] for change in record["changes"]] == ["bb", "aa"]
    assert record["changes"][0]["previous_sha256_fingerprint"] == "aa"
    assert [attempt["status"] for attempt in record["attempts"]] == ["ok", "error"]
    assert record["attempts"][1]["reason"] == "timeout"
    assert record["attempts"][1]["attempted_at"] == "2026-01-01T00:00:00Z"


def test_tls_results_limit(results_database, pg_connect):
    records = tls_results(pg_connect(results_database), limit=1)

    assert len(records) == 1
    with pytest.raises(InvalidArgumentError, match="invalid limit 0"):
        tls_results(pg_connect(results_database), limit=0)


def test_email_results_history(results_database, pg_connect):
    [record] = email_results(pg_connect(results_database), ["example.com"], history=True)

    assert record["mx_records"] == ["mx.example.com"]
    assert record["spf_valid"] is True
    assert [attempt["outcome"] for attempt in record["attempts"]] == ["complete", "transient"]
    assert record["attempts"][0]["finished_at"] == "2026-01-02T03:04:05Z"


def test_email_results_without_history(results_database, pg_connect):
    [record] = email_results(pg_connect(results_database))

    assert "attempts" not in record


def test_results_as_dataframe(results_database, pg_connect):
    pytest.importorskip("pandas", reason="pandas is not installed")

    frame = tls_results(pg_connect(results_database), as_dataframe=True)

    assert list(frame["domain_name"]) == ["example.com", "legacy.example"]
    assert frame.loc[0, "key_bits"] == 2048


def test_dataframe_without_pandas(results_database, pg_connect, monkeypatch):
    real_import = builtins.__import__

    def without_pandas(name, *args, **kwargs):
        if name == "pandas":
            raise ImportError("No module named 'pandas'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", without_pandas)

    with pytest.raises(ModuleNotFoundError, match=r"dnsscience\[pandas\]"):
        email_results(pg_connect(results_database), as_dataframe=True)


# -- the command ---------------------------------------------------------------------------


def test_results_command_json(results_database, monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", results_database)

    status = main(["results", "tls", "--json", "--history", "example.com"])

    lines = capsys.readouterr().out.splitlines()
    assert status == 0
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert record["domain_name"] == "example.com"
    assert len(record["changes"]) == 2


def test_results_command_csv(results_database, monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", results_database)

    status = main(["results", "email", "--csv"])

    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert status == 0
    assert [row["domain_name"] for row in rows] == ["example.com"]
    assert rows[0]["mx_records"] == "mx.example.com"
    assert rows[0]["has_mx"] == "True"


def test_results_command_text_and_missing(results_database, monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", results_database)

    status = main(["results", "email", "example.com", "example.net"])

    captured = capsys.readouterr()
    assert status == 1
    assert captured.out.splitlines()[0] == "example.com"
    assert "  spf_record: v=spf1 -all" in captured.out.splitlines()
    assert "no email result for example.net" in captured.err


def test_results_command_rejects_bad_limit(capsys):
    with pytest.raises(SystemExit) as caught:
        main(["results", "tls", "--limit", "0"])

    assert caught.value.code == 2
    assert "expected a whole number >= 1" in capsys.readouterr().err
