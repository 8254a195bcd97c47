"""Tests of dnsscience.store.email and results against migrated databases."""

import pytest

from dnsscience import InvalidArgumentError
from dnsscience.store import email as email_store
from dnsscience.store import statements
from dnsscience.store.results import email_results

LOOKUPS_OK = {"mx": "data", "spf": "data", "dmarc": "data", "dkim": "data",
              "mta_sts": "nodata", "tls_rpt": "nodata", "bimi": "nodata"}


def make_result(domain_id, domain, **changes):
    result = {
        "domain_id": domain_id, "domain": domain, "checked_at": "2026-12-04T20:00:00Z",
        "elapsed_ms": 12, "complete": True, "error": None, "lookups": dict(LOOKUPS_OK),
        "has_mx": True, "mx_records": [f"mx1.{domain}", f"mx2.{domain}"], "mx_count": 2,
        "null_mx": False, "has_spf": True, "spf_record": "v=spf1 mx -all",
        "spf_records": ["v=spf1 mx -all"], "spf_valid": True, "spf_result": "none",
        "spf_lookup_count": 1, "spf_void_lookup_count": 0, "spf_all": "-all",
        "has_dmarc": True, "dmarc_record": "v=DMARC1; p=quarantine",
        "dmarc_records": ["v=DMARC1; p=quarantine"], "dmarc_policy": "quarantine",
        "has_dkim": True, "dkim_selectors": ["s1"], "dkim": [{"selector": "s1"}],
        "has_mta_sts": True, "mta_sts_record": "v=STSv1; id=1", "mta_sts_id": "1",
        "has_tls_rpt": False, "tls_rpt_record": None, "has_bimi": False, "bimi_record": None,
        "findings": [{"code": "x", "severity": "info", "message": "m"}],
    }
    result.update(changes)
    return result


def record(pg_cluster, dsn, domain_id):
    rows = pg_cluster.query(
        dsn,
        "SELECT has_mx, mx_records, mx_count, has_spf, spf_record, spf_valid, has_dmarc, "
        "dmarc_record, dmarc_policy, has_dkim, dkim_selectors, last_checked IS NOT NULL, "
        f"has_mta_sts FROM email_security_records WHERE domain_id = {int(domain_id)}",
    )
    return rows[0] if rows else None


def add_domains(pg_cluster, dsn, *names):
    values = ", ".join(f"('{name}')" for name in names)
    pg_cluster.run_sql(dsn, f"INSERT INTO domains (domain_name) VALUES {values}")
    rows = pg_cluster.query(dsn, "SELECT id, domain_name FROM domains ORDER BY id")
    return {name: int(domain_id) for domain_id, name in rows}


def test_store_writes_legacy_meaning(migrated_database, pg_connect, pg_cluster):
    ids = add_domains(pg_cluster, migrated_database, "a.example")
    stored = email_store.store_results(
        pg_connect(migrated_database), [make_result(ids["a.example"], "a.example")], "h:1")
    assert stored == 1
    assert record(pg_cluster, migrated_database, ids["a.example"]) == [
        "t", "{mx1.a.example,mx2.a.example}", "2", "t", "v=spf1 mx -all", "t", "t",
        "v=DMARC1; p=quarantine", "quarantine", "t", "{s1}", "t", "t",
    ]


def test_null_mx_and_empty_dkim(migrated_database, pg_connect, pg_cluster):
    ids = add_domains(pg_cluster, migrated_database, "n.example")
    result = make_result(ids["n.example"], "n.example", has_mx=False, mx_records=["."],
                         null_mx=True, has_dkim=False, dkim_selectors=[], dmarc_policy=None,
                         has_dmarc=False, dmarc_record=None)
    email_store.store_results(pg_connect(migrated_database), [result], "h:1")
    row = record(pg_cluster, migrated_database, ids["n.example"])
    assert row[:3] == ["f", "{}", "0"]
    assert row[8] == ""  # dmarc_policy NULL
    assert row[10] == ""  # dkim_selectors NULL


def test_transient_failure_keeps_previous(migrated_database, pg_connect, pg_cluster):
    ids = add_domains(pg_cluster, migrated_database, "t.example")
    connection = pg_connect(migrated_database)
    email_store.store_results(connection, [make_result(ids["t.example"], "t.example")], "h:1")
    before = record(pg_cluster, migrated_database, ids["t.example"])
    checked_before = pg_cluster.query(
        migrated_database, "SELECT last_checked FROM email_security_records")

    lookups = dict(LOOKUPS_OK, mx="timeout", dkim="servfail")
    failed = make_result(ids["t.example"], "t.example", complete=False, lookups=lookups,
                         has_mx=False, mx_records=[], mx_count=0, has_dkim=False,
                         dkim_selectors=[], spf_record="v=spf1 -all")
    email_store.store_results(connection, [failed], "h:1")

    after = record(pg_cluster, migrated_database, ids["t.example"])
    assert after[:3] == before[:3]  # MX columns kept
    assert after[9:11] == before[9:11]  # DKIM columns kept
    assert after[4] == "v=spf1 -all"  # SPF lookup succeeded, so it is updated
    assert pg_cluster.query(
        migrated_database, "SELECT last_checked FROM email_security_records") == checked_before
    details = pg_cluster.query(
        migrated_database,
        "SELECT failure_count, round(extract(epoch FROM next_attempt_at - "
        "(now() AT TIME ZONE 'UTC')) / 60), lookup_status->>'mx' FROM email_security_details")
    assert details == [["1", "60", "timeout"]]


def test_retry_delay_doubles_to_one_day(migrated_database, pg_connect, pg_cluster):
    ids = add_domains(pg_cluster, migrated_database, "r.example")
    connection = pg_connect(migrated_database)
    failed = make_result(ids["r.example"], "r.example", complete=False,
                         lookups=dict(LOOKUPS_OK, spf="refused"))
    delays = []
    for _ in range(7):
        email_store.store_results(connection, [failed], "h:1")
        rows = pg_cluster.query(
            migrated_database,
            "SELECT round(extract(epoch FROM next_attempt_at - (now() AT TIME ZONE 'UTC'))"
            " / 3600) FROM email_security_details")
        delays.append(int(rows[0][0]))
    assert delays == [1, 2, 4, 8, 16, 24, 24]
    email_store.store_results(connection, [make_result(ids["r.example"], "r.example")], "h:1")
    rows = pg_cluster.query(migrated_database,
                            "SELECT failure_count, next_attempt_at FROM email_security_details")
    assert rows == [["0", ""]]


def test_duplicates_in_batch_last_wins(migrated_database, pg_connect, pg_cluster):
    ids = add_domains(pg_cluster, migrated_database, "d.example")
    first = make_result(ids["d.example"], "d.example", spf_record="v=spf1 first")
    last = make_result(ids["d.example"], "d.example", spf_record="v=spf1 last")
    stored = email_store.store_results(pg_connect(migrated_database), [first, last], "h:1")
    assert stored == 1
    assert record(pg_cluster, migrated_database, ids["d.example"])[4] == "v=spf1 last"
    attempts = pg_cluster.query(migrated_database, "SELECT count(*) FROM email_check_attempts")
    assert attempts == [["1"]]


def test_invalid_name_result_stored(migrated_database, pg_connect, pg_cluster):
    ids = add_domains(pg_cluster, migrated_database, "bad..example")
    result = {"domain_id": ids["bad..example"], "domain": "bad..example",
              "checked_at": "2026-12-04T20:00:00Z", "complete": False,
              "error": "invalid domain name: empty label", "lookups": {}}
    email_store.store_results(pg_connect(migrated_database), [result], "h:1")
    assert record(pg_cluster, migrated_database, ids["bad..example"]) is None
    details = pg_cluster.query(
        migrated_database,
        "SELECT error, complete, failure_count, next_attempt_at > (now() AT TIME ZONE 'UTC') "
        "+ interval '6 days' FROM email_security_details")
    assert details == [["invalid domain name: empty label", "f", "0", "t"]]
    attempts = pg_cluster.query(migrated_database,
                                "SELECT outcome, error FROM email_check_attempts")
    assert attempts == [["invalid", "invalid domain name: empty label"]]


def test_result_found_by_domain_name(migrated_database, pg_connect, pg_cluster):
    ids = add_domains(pg_cluster, migrated_database, "byname.example")
    result = make_result(None, "byname.example")
    del result["domain_id"]
    stored = email_store.store_results(pg_connect(migrated_database), [result, make_result(
        None, "unknown.example")], "h:1")
    assert stored == 1
    assert record(pg_cluster, migrated_database, ids["byname.example"]) is not None


def test_store_without_mta_sts_columns(legacy_database, pg_connect, pg_cluster):
    # Migrations 001 and 002, then the optional columns removed again: the store
    # must pick the statements without has_mta_sts.
    from dnsscience.store.migrations import load_migrations, migrate

    connection = pg_connect(legacy_database)
    migrate(connection, load_migrations()[:2])
    pg_cluster.run_sql(
        legacy_database,
        "ALTER TABLE email_security_records DROP COLUMN has_mta_sts CASCADE, "
        "DROP COLUMN has_dane CASCADE")
    stored = email_store.store_results(
        connection, [make_result(3, "example.org")], "h:1")
    assert stored == 1
    assert record_without_optional(pg_cluster, legacy_database) == ["t", "v=spf1 mx -all"]


def record_without_optional(pg_cluster, dsn):
    rows = pg_cluster.query(dsn, "SELECT has_mx, spf_record FROM email_security_records "
                                 "WHERE domain_id = 3")
    return rows[0]


def test_claim_orders_never_checked_first(migrated_legacy_database, pg_connect):
    claimed = email_store.claim_due(pg_connect(migrated_legacy_database), 10, 7, "h:1", 600)
    names = [name for _, name in claimed]
    assert names == ["example.org", "mail.example", "example.com", "example.net"]


def test_claim_lease_excludes_other_instance(migrated_legacy_database, pg_connect):
    first = pg_connect(migrated_legacy_database)
    second = pg_connect(migrated_legacy_database)
    claimed = email_store.claim_due(first, 2, 7, "host-a:1", 600)
    others = email_store.claim_due(second, 10, 7, "host-b:2", 600)
    assert len(claimed) == 2
    assert {domain_id for domain_id, _ in claimed}.isdisjoint(
        {domain_id for domain_id, _ in others})
    # Domains the instance has already leased are not returned to it a second time.
    assert email_store.claim_due(second, 10, 7, "host-b:2", 600) == []
    assert email_store.release_claims(first, [domain_id for domain_id, _ in claimed],
                                      "host-a:1") == 2
    again = email_store.claim_due(second, 10, 7, "host-c:3", 600)
    assert {domain_id for domain_id, _ in again} == {domain_id for domain_id, _ in claimed}


def test_claim_skips_locked_rows(migrated_legacy_database, pg_connect, pg_cluster):
    locker = pg_connect(migrated_legacy_database)
    claimer = pg_connect(migrated_legacy_database)
    # Another transaction holds a row lock on example.org while the claim runs.
    import threading

    started = threading.Event()

    def hold_lock():
        locker.transaction([
            ("SELECT id FROM domains WHERE domain_name = 'example.org' FOR UPDATE", []),
            ("SELECT pg_sleep(1.5)", []),
        ])

    holder = threading.Thread(target=hold_lock)
    holder.start()
    started.wait(0.5)
    claimed = email_store.claim_due(claimer, 10, 7, "h:2", 600)
    holder.join()
    assert "example.org" not in [name for _, name in claimed]
    assert len(claimed) == 3


def test_expired_lease_is_claimable(migrated_legacy_database, pg_connect, pg_cluster):
    connection = pg_connect(migrated_legacy_database)
    email_store.claim_due(connection, 10, 7, "dead:1", 600)
    pg_cluster.run_sql(migrated_legacy_database,
                       "UPDATE email_security_details SET claimed_until = "
                       "(now() AT TIME ZONE 'UTC') - interval '1 second'")
    assert len(email_store.claim_due(connection, 10, 7, "live:2", 600)) == 4


def test_checked_domain_not_due(migrated_database, pg_connect, pg_cluster):
    ids = add_domains(pg_cluster, migrated_database, "fresh.example", "stale.example")
    connection = pg_connect(migrated_database)
    email_store.store_results(connection, [make_result(ids["fresh.example"], "fresh.example"),
                                           make_result(ids["stale.example"], "stale.example")],
                              "h:1")
    pg_cluster.run_sql(migrated_database,
                       "UPDATE email_security_records SET last_checked = last_checked - "
                       f"interval '8 days' WHERE domain_id = {ids['stale.example']}")
    claimed = email_store.claim_due(connection, 10, 7, "h:1", 600)
    assert claimed == [(ids["stale.example"], "stale.example")]


def test_email_results_read_back(migrated_database, pg_connect, pg_cluster):
    ids = add_domains(pg_cluster, migrated_database, "b.example", "a.example")
    connection = pg_connect(migrated_database)
    email_store.store_results(connection, [make_result(ids["a.example"], "a.example"),
                                           make_result(ids["b.example"], "b.example")], "h:1")
    rows = email_results(connection, domains=["b.example"])
    assert len(rows) == 1
    assert rows[0]["domain_name"] == "b.example"
    assert rows[0]["mx_records"] == ["mx1.b.example", "mx2.b.example"]
    assert rows[0]["complete"] is True
    assert rows[0]["lookup_status"]["mx"] == "data"
    assert rows[0]["result"]["spf_all"] == "-all"
    assert [row["domain_name"] for row in email_results(connection)] == ["a.example",
                                                                         "b.example"]


def test_invalid_arguments_rejected(migrated_database, pg_connect):
    connection = pg_connect(migrated_database)
    with pytest.raises(InvalidArgumentError, match="limit"):
        email_store.claim_due(connection, 0, 7, "h:1", 600)
    with pytest.raises(InvalidArgumentError, match="index 0"):
        email_store.store_results(connection, [{"complete": True}], "h:1")


SAMPLE_PARAMS = {
    "claim_due": ["5", "7", "h:1", "600"],
    "release_claims": ["[1]", "h:1"],
    "insert_email_attempts": ["[]", "h:1"],
    "upsert_email_details": ["[]", "h:1", "7"],
    "prune_email_attempts": ["30"],
    "select_email_results": [None, "10"],
    "select_optional_email_columns": [],
}
NEW_TABLES = ("email_security_details", "email_check_attempts")


@pytest.mark.parametrize("statement", statements.EMAIL_STATEMENTS, ids=lambda s: s.name)
@pytest.mark.parametrize("fixture", ["migrated_database", "migrated_legacy_database"])
def test_statement_executes(statement, fixture, request, pg_connect):
    connection = pg_connect(request.getfixturevalue(fixture))
    connection.transaction([(statement.sql, SAMPLE_PARAMS.get(statement.name, ["[]"]))])


@pytest.mark.parametrize("statement", statements.EMAIL_STATEMENTS, ids=lambda s: s.name)
def test_statement_on_unmigrated_legacy(statement, legacy_database, pg_connect):
    # Before migration only the platform tables exist: a statement that needs the
    # new tables or the MTA-STS columns fails with a schema error, the others run.
    from dnsscience import SchemaError

    connection = pg_connect(legacy_database)
    work = [(statement.sql, SAMPLE_PARAMS.get(statement.name, ["[]"]))]
    needs_new_schema = statement.name.endswith("_with_mta_sts") or any(
        table.table in NEW_TABLES for table in statement.tables)
    if needs_new_schema:
        with pytest.raises(SchemaError):
            connection.transaction(work)
    else:
        connection.transaction(work)
