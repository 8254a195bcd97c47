"""Tests of dnsscience.store.tls on real PostgreSQL databases, legacy and fresh.

The test cluster's session time zone is Pacific/Chatham, so any timestamp written
in the session zone instead of UTC shows up as a 13-hour error.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from dnsscience.store import tls as tls_store

MIGRATION = Path(tls_store.__file__).parent / "migrations" / "003_tls.sql"
INSTANCE = "test-host:1"
OTHER_INSTANCE = "other-host:2"


def iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def make_result(
    domain_id: int,
    domain_name: str,
    *,
    port: int = 443,
    not_after: datetime | None = None,
    fingerprint: str = "aa" * 32,
    subject_cn: str | None = "example.com",
    issuer_cn: str | None = "Test Intermediate",
    trusted: bool = True,
    verify_error_code: int | None = None,
    hostname_match: bool = True,
    error: dict | None = None,
) -> dict:
    """Return a prober result document as _core.tls_session yields it, plus the claim ids."""
    now = datetime.now(timezone.utc).replace(microsecond=0)
    result = {
        "domain_id": domain_id,
        "domain_name": domain_name,
        "host": domain_name,
        "port": port,
        "sni": domain_name,
        "address": "127.0.0.1",
        "starttls": "none",
        "attempted_at": iso(now),
        "elapsed_ms": 12.625,
        "status": "failed" if error else "valid",
        "error": error,
        "protocol": None if error else "TLSv1.3",
        "cipher": None if error else "TLS_AES_256_GCM_SHA384",
        "alpn": None,
        "ocsp_stapled": False,
        "trusted": None if error else trusted,
        "verify_error": None if trusted else "unable to get local issuer certificate",
        "verify_error_code": verify_error_code,
        "hostname_match": None if error else hostname_match,
        "chain": [],
        "banner": None,
        "certificate": None,
        "findings": [],
    }
    if error is None:
        not_after = not_after or now + timedelta(days=200)
        result["certificate"] = {
            "subject_cn": subject_cn,
            "subject_o": None,
            "issuer_cn": issuer_cn,
            "issuer_o": "Test",
            "sans": [{"type": "dns", "value": domain_name}],
            "not_before": iso(now - timedelta(days=10)),
            "not_after": iso(not_after),
            "days_until_expiry": (not_after - now).days,
            "serial": "85c0ffee",
            "signature_algorithm": "sha256WithRSAEncryption",
            "key_type": "rsa",
            "key_bits": 2048,
            "key_curve": None,
            "sha256_fingerprint": fingerprint,
            "spki_sha256": "bb" * 32,
            "sct_count": 0,
            "ocsp_urls": [],
            "crl_urls": [],
            "ca_issuers_urls": [],
            "key_usage": ["digitalSignature"],
            "extended_key_usage": ["serverAuth"],
            "self_signed": False,
        }
    return result


def failure(reason: str, *, transient: bool) -> dict:
    return {"stage": "connect", "reason": reason, "detail": "test", "transient": transient}


@pytest.fixture
def database(migrated_legacy_database, pg_connect):
    return pg_connect(migrated_legacy_database)


def scalar(connection, sql: str, params: list | None = None):
    _columns, rows, _count = connection.execute(sql, params or [])
    return rows[0][0]


def domain_id(connection, name: str) -> int:
    return int(scalar(connection, "SELECT id FROM domains WHERE domain_name = $1", [name]))


def store(connection, results, **options):
    options.setdefault("instance", INSTANCE)
    options.setdefault("daemon", "ssl_scanner")
    options.setdefault("rescan_days", 7)
    tls_store.store_results(connection, results, **options)


def test_migration_runs_twice(legacy_database, pg_connect):
    connection = pg_connect(legacy_database)
    connection.execute(MIGRATION.read_text())
    connection.execute(MIGRATION.read_text())
    count = scalar(
        connection,
        "SELECT count(*) FROM pg_constraint WHERE conrelid = 'ssl_certificates'::regclass "
        "AND contype = 'u'",
    )
    assert count == "1"


def test_migration_keeps_legacy_rows(database):
    assert scalar(database, "SELECT count(*) FROM ssl_certificates") == "2"
    assert scalar(database, "SELECT count(*) FROM domains") == "5"


def test_claim_skips_inactive_domains(database):
    claims = tls_store.claim_due_for_scan(
        database, limit=100, rescan_days=7, instance=INSTANCE, lease_seconds=600
    )
    names = {claim.domain_name for claim in claims}
    assert names == {"example.com", "example.net", "example.org", "mail.example"}


def test_claim_leases_exclude_others(database):
    first = tls_store.claim_due_for_scan(
        database, limit=2, rescan_days=7, instance=INSTANCE, lease_seconds=600
    )
    second = tls_store.claim_due_for_scan(
        database, limit=100, rescan_days=7, instance=OTHER_INSTANCE, lease_seconds=600
    )
    assert len(first) == 2
    assert len(second) == 2
    assert not {c.domain_id for c in first} & {c.domain_id for c in second}
    third = tls_store.claim_due_for_scan(
        database, limit=100, rescan_days=7, instance=OTHER_INSTANCE, lease_seconds=600
    )
    assert third == []


def test_expired_lease_is_claimable(database):
    tls_store.claim_due_for_scan(
        database, limit=100, rescan_days=7, instance=INSTANCE, lease_seconds=600
    )
    database.execute("UPDATE domains SET tls_lease_expires_at = now() - interval '1 second'")
    again = tls_store.claim_due_for_scan(
        database, limit=100, rescan_days=7, instance=OTHER_INSTANCE, lease_seconds=600
    )
    assert len(again) == 4


def test_concurrent_claims_are_disjoint(migrated_legacy_database, pg_connect):
    connection = pg_connect(migrated_legacy_database)
    connection.execute(
        "INSERT INTO domains (domain_name) "
        "SELECT 'd' || n || '.test' FROM generate_series(1, 400) AS n"
    )
    claimed: dict[str, list[int]] = {}

    def claim(instance: str) -> None:
        own = pg_connect(migrated_legacy_database)
        ids: list[int] = []
        while batch := tls_store.claim_due_for_scan(
            own, limit=7, rescan_days=7, instance=instance, lease_seconds=600
        ):
            ids += [claim.domain_id for claim in batch]
        claimed[instance] = ids

    threads = [threading.Thread(target=claim, args=(f"host:{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    all_ids = [domain for ids in claimed.values() for domain in ids]
    assert len(all_ids) == len(set(all_ids))
    assert len(all_ids) == 404


def test_store_inserts_legacy_columns(database):
    org = domain_id(database, "example.org")
    not_after = datetime(2051, 6, 1, 12, 0, 0, tzinfo=timezone.utc)
    store(database, [make_result(org, "example.org", not_after=not_after, subject_cn=None)])
    _columns, rows, _count = database.execute(
        "SELECT subject_cn, issuer_cn, to_char(valid_to, 'YYYY-MM-DD HH24:MI:SS'), "
        "valid_to = expires_at, "
        "abs(extract(epoch FROM last_checked - (now() AT TIME ZONE 'UTC'))) < 60, "
        "abs(extract(epoch FROM created_at - (now() AT TIME ZONE 'UTC'))) < 60 "
        "FROM ssl_certificates WHERE domain_name = 'example.org' AND port = 443"
    )
    subject_cn, issuer_cn, valid_to, same_expiry, fresh_check, fresh_creation = rows[0]
    assert subject_cn is None
    assert issuer_cn == "Test Intermediate"
    assert valid_to == "2051-06-01 12:00:00"
    assert same_expiry == "t"
    assert fresh_check == "t"
    assert fresh_creation == "t"


def test_store_keeps_created_at(database):
    com = domain_id(database, "example.com")
    store(database, [make_result(com, "example.com")])
    _columns, rows, _count = database.execute(
        "SELECT to_char(created_at, 'YYYY-MM-DD HH24:MI:SS'), issuer_cn "
        "FROM ssl_certificates WHERE domain_name = 'example.com'"
    )
    assert rows == [("2025-11-15 05:00:00", "Test Intermediate")]


def test_failure_keeps_last_certificate(database):
    com = domain_id(database, "example.com")
    store(
        database,
        [make_result(com, "example.com", error=failure("connect_timeout", transient=True))],
    )
    _columns, rows, _count = database.execute(
        "SELECT issuer_cn, to_char(last_checked, 'YYYY-MM-DD HH24:MI') FROM ssl_certificates "
        "WHERE domain_name = 'example.com'"
    )
    assert rows == [("R3", "2025-11-15 05:00")]
    _columns, rows, _count = database.execute(
        "SELECT status, stage, reason, transient, daemon FROM tls_scan_attempts"
    )
    assert rows == [("failed", "connect", "connect_timeout", "t", "ssl_scanner")]


def test_every_attempt_stamps_last_ssl_scan(database):
    net = domain_id(database, "example.net")
    store(database, [make_result(net, "example.net", error=failure("nxdomain", transient=False))])
    age = scalar(
        database,
        "SELECT abs(extract(epoch FROM last_ssl_scan - (now() AT TIME ZONE 'UTC'))) "
        "FROM domains WHERE id = $1",
        [str(net)],
    )
    assert float(age) < 60


def next_attempt_hours(connection, domain: int) -> float:
    return float(
        scalar(
            connection,
            "SELECT extract(epoch FROM tls_next_attempt_at - now()) / 3600 FROM domains "
            "WHERE id = $1",
            [str(domain)],
        )
    )


def test_transient_failures_back_off(database):
    net = domain_id(database, "example.net")
    expected_hours = [1, 2, 4, 8, 16, 24, 24]
    for hours in expected_hours:
        store(
            database,
            [make_result(net, "example.net", error=failure("connect_timeout", transient=True))],
        )
        assert next_attempt_hours(database, net) == pytest.approx(hours, abs=0.05)
    assert (
        scalar(database, "SELECT tls_failure_count FROM domains WHERE id = $1", [str(net)]) == "7"
    )


def test_success_resets_backoff(database):
    net = domain_id(database, "example.net")
    store(
        database,
        [make_result(net, "example.net", error=failure("connect_timeout", transient=True))],
    )
    store(database, [make_result(net, "example.net")])
    assert next_attempt_hours(database, net) == pytest.approx(7 * 24, abs=0.05)
    assert (
        scalar(database, "SELECT tls_failure_count FROM domains WHERE id = $1", [str(net)]) == "0"
    )


def test_permanent_failure_waits_rescan(database):
    net = domain_id(database, "example.net")
    store(database, [make_result(net, "example.net", error=failure("nxdomain", transient=False))])
    assert next_attempt_hours(database, net) == pytest.approx(7 * 24, abs=0.05)


def test_backed_off_domain_not_due(database):
    net = domain_id(database, "example.net")
    store(
        database,
        [make_result(net, "example.net", error=failure("connect_timeout", transient=True))],
    )
    claims = tls_store.claim_due_for_scan(
        database, limit=100, rescan_days=7, instance=INSTANCE, lease_seconds=600
    )
    assert net not in {claim.domain_id for claim in claims}
    database.execute(
        "UPDATE domains SET tls_next_attempt_at = now() - interval '1 minute' WHERE id = $1",
        [str(net)],
    )
    claims = tls_store.claim_due_for_scan(
        database, limit=100, rescan_days=7, instance=INSTANCE, lease_seconds=600
    )
    assert net in {claim.domain_id for claim in claims}


def test_store_releases_own_lease(database):
    claims = tls_store.claim_due_for_scan(
        database, limit=100, rescan_days=7, instance=INSTANCE, lease_seconds=600
    )
    results = [make_result(c.domain_id, c.domain_name) for c in claims]
    store(database, results, claimed=claims)
    leased = scalar(database, "SELECT count(*) FROM domains WHERE tls_lease_owner IS NOT NULL")
    assert leased == "0"


def test_claimed_without_results_is_stamped(database):
    claims = tls_store.claim_due_for_scan(
        database, limit=1, rescan_days=7, instance=INSTANCE, lease_seconds=600
    )
    store(database, [], claimed=claims)
    assert next_attempt_hours(database, claims[0].domain_id) == pytest.approx(7 * 24, abs=0.05)


def test_release_claims_keeps_due(database):
    claims = tls_store.claim_due_for_scan(
        database, limit=100, rescan_days=7, instance=INSTANCE, lease_seconds=600
    )
    released = tls_store.release_claims(database, [c.domain_id for c in claims], INSTANCE)
    assert released == 4
    again = tls_store.claim_due_for_scan(
        database, limit=100, rescan_days=7, instance=OTHER_INSTANCE, lease_seconds=600
    )
    assert len(again) == 4


def test_changes_record_new_fingerprints(database):
    org = domain_id(database, "example.org")
    store(database, [make_result(org, "example.org", fingerprint="01" * 32)])
    store(database, [make_result(org, "example.org", fingerprint="01" * 32)])
    store(database, [make_result(org, "example.org", fingerprint="02" * 32)])
    _columns, rows, _count = database.execute(
        "SELECT sha256_fingerprint, previous_sha256_fingerprint FROM certificate_changes "
        "ORDER BY id"
    )
    assert rows == [("01" * 32, None), ("02" * 32, "01" * 32)]


def test_details_store_extracted_fields(database):
    org = domain_id(database, "example.org")
    store(database, [make_result(org, "example.org", subject_cn=None)])
    _columns, rows, _count = database.execute(
        "SELECT subject_cn, key_type, key_bits, sans->0->>'value', protocol, status "
        "FROM certificate_details WHERE domain_name = 'example.org' AND port = 443"
    )
    assert rows == [(None, "rsa", "2048", "example.org", "TLSv1.3", "valid")]


def open_alerts(connection) -> dict[str, str]:
    _columns, rows, _count = connection.execute(
        "SELECT kind, severity FROM tls_alerts WHERE resolved_at IS NULL"
    )
    return dict(rows)


def test_expiring_alert_severity(database):
    org = domain_id(database, "example.org")
    now = datetime.now(timezone.utc)
    store(database, [make_result(org, "example.org", not_after=now + timedelta(days=20))])
    assert open_alerts(database) == {"expiring": "medium"}
    store(database, [make_result(org, "example.org", not_after=now + timedelta(days=6, hours=23))])
    assert open_alerts(database) == {"expiring": "high"}


def test_alert_refreshes_then_resolves(database):
    org = domain_id(database, "example.org")
    now = datetime.now(timezone.utc)
    store(database, [make_result(org, "example.org", not_after=now + timedelta(days=5))])
    raised_at = scalar(database, "SELECT raised_at FROM tls_alerts")
    database.execute("UPDATE tls_alerts SET last_seen_at = last_seen_at - interval '1 hour'")
    store(database, [make_result(org, "example.org", not_after=now + timedelta(days=5))])
    _columns, rows, _count = database.execute(
        "SELECT raised_at, last_seen_at > raised_at, count(*) OVER () FROM tls_alerts"
    )
    assert rows[0][0] == raised_at
    assert rows[0][2] == "1"
    store(database, [make_result(org, "example.org", not_after=now + timedelta(days=300))])
    assert open_alerts(database) == {}
    assert scalar(database, "SELECT resolved_at IS NOT NULL FROM tls_alerts") == "t"


def test_failure_leaves_alerts_open(database):
    org = domain_id(database, "example.org")
    now = datetime.now(timezone.utc)
    store(database, [make_result(org, "example.org", not_after=now + timedelta(days=5))])
    store(
        database,
        [make_result(org, "example.org", error=failure("connection_refused", transient=True))],
    )
    assert open_alerts(database) == {"expiring": "high"}


def test_expired_untrusted_mismatch_alerts(database):
    org = domain_id(database, "example.org")
    now = datetime.now(timezone.utc)
    expired = make_result(
        org, "example.org", not_after=now - timedelta(days=1), trusted=False, verify_error_code=10
    )
    store(database, [expired])
    assert open_alerts(database) == {"expired": "high"}
    mismatched = make_result(
        org, "example.org", trusted=False, verify_error_code=20, hostname_match=False
    )
    store(database, [mismatched])
    assert open_alerts(database) == {"untrusted": "medium", "hostname_mismatch": "medium"}


def test_claim_expiring_finds_expired(database):
    claims = tls_store.claim_expiring(
        database, limit=100, within_days=30, recheck_hours=24, instance=INSTANCE, lease_seconds=600
    )
    assert [(c.domain_name, c.ports) for c in claims] == [
        ("example.com", (443,)),
        ("example.net", (443,)),
    ]


def test_claim_expiring_waits_recheck(database):
    com = domain_id(database, "example.com")
    now = datetime.now(timezone.utc)
    store(database, [make_result(com, "example.com", not_after=now + timedelta(days=3))])
    claims = tls_store.claim_expiring(
        database, limit=100, within_days=30, recheck_hours=24, instance=INSTANCE, lease_seconds=600
    )
    assert "example.com" not in {claim.domain_name for claim in claims}


def test_monitor_and_scanner_never_share(database):
    scanner = tls_store.claim_due_for_scan(
        database, limit=100, rescan_days=7, instance=INSTANCE, lease_seconds=600
    )
    monitor = tls_store.claim_expiring(
        database,
        limit=100,
        within_days=30,
        recheck_hours=24,
        instance=OTHER_INSTANCE,
        lease_seconds=600,
    )
    assert len(scanner) == 4
    assert monitor == []


def test_delete_old_attempts(database):
    org = domain_id(database, "example.org")
    store(database, [make_result(org, "example.org")] * 3)
    database.execute(
        "UPDATE tls_scan_attempts SET attempted_at = now() - interval '40 days' "
        "WHERE id = (SELECT min(id) FROM tls_scan_attempts)"
    )
    assert tls_store.delete_old_attempts(database, retention_days=30) == 1
    assert scalar(database, "SELECT count(*) FROM tls_scan_attempts") == "2"


def test_duplicate_port_results_store_once(database):
    org = domain_id(database, "example.org")
    first = make_result(org, "example.org", fingerprint="01" * 32)
    second = make_result(org, "example.org", fingerprint="02" * 32)
    store(database, [first, second])
    assert scalar(database, "SELECT sha256_fingerprint FROM certificate_details") == "01" * 32
    assert scalar(database, "SELECT count(*) FROM tls_scan_attempts") == "2"


def test_store_rejects_result_without_ids(database):
    result = make_result(1, "example.com")
    del result["domain_id"]
    with pytest.raises(ValueError, match="domain_id"):
        store(database, [result])


def test_fresh_database_store(migrated_database, pg_connect):
    connection = pg_connect(migrated_database)
    connection.execute("INSERT INTO domains (domain_name) VALUES ('fresh.test')")
    claims = tls_store.claim_due_for_scan(
        connection, limit=10, rescan_days=7, instance=INSTANCE, lease_seconds=600
    )
    assert [claim.domain_name for claim in claims] == ["fresh.test"]
    store(connection, [make_result(claims[0].domain_id, "fresh.test")], claimed=claims)
    assert scalar(connection, "SELECT count(*) FROM ssl_certificates") == "1"
    assert scalar(connection, "SELECT count(*) FROM certificate_details") == "1"


def test_alert_severity_uses_exact_time():
    now = datetime.now(timezone.utc)
    result = make_result(1, "example.com", not_after=now + timedelta(days=7, minutes=-5))
    assert [(alert.kind, alert.severity) for alert in tls_store.alerts_for(result)] == [
        ("expiring", "high")
    ]
