"""SQL text of the email store, each statement next to the schema it needs.

Every :class:`SqlStatement` names the tables and columns it reads or writes
(with their accepted types), the unique keys its ON CONFLICT targets need and
the indexes its plan relies on, each marked required or optional.
:mod:`dnsscience.store.schema` checks a database against these declarations.

Conventions: parameters arrive as text and are cast in SQL; timestamps are
``timestamp without time zone`` holding UTC, so every "now" is written
``(now() AT TIME ZONE 'UTC')`` and no statement depends on the session zone.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "CLAIM_DUE",
    "EMAIL_STATEMENTS",
    "INSERT_EMAIL_ATTEMPTS",
    "INSERT_EMAIL_RECORDS",
    "INSERT_EMAIL_RECORDS_WITH_MTA_STS",
    "PRUNE_EMAIL_ATTEMPTS",
    "RELEASE_CLAIMS",
    "SELECT_EMAIL_RESULTS",
    "SELECT_OPTIONAL_EMAIL_COLUMNS",
    "ColumnRequirement",
    "IndexRequirement",
    "SqlStatement",
    "TableRequirement",
    "UPDATE_EMAIL_RECORDS",
    "UPDATE_EMAIL_RECORDS_WITH_MTA_STS",
    "UPSERT_EMAIL_DETAILS",
]

# PostgreSQL type names as information_schema.columns.udt_name spells them.
BOOL = ("bool",)
INT = ("int4", "int8")
TEXT = ("text", "varchar")
TEXT_ARRAY = ("_text", "_varchar")
TIMESTAMP = ("timestamp",)
JSONB = ("jsonb",)


@dataclass(frozen=True)
class ColumnRequirement:
    """A column and the type names (``udt_name``) it may have."""

    name: str
    types: tuple[str, ...]
    required: bool = True


@dataclass(frozen=True)
class IndexRequirement:
    """An index whose leading key columns are ``columns``, with its purpose."""

    columns: tuple[str, ...]
    unique: bool = False
    required: bool = True
    purpose: str = ""


@dataclass(frozen=True)
class TableRequirement:
    """What one statement needs of one table."""

    table: str
    columns: tuple[ColumnRequirement, ...]
    indexes: tuple[IndexRequirement, ...] = ()
    required: bool = True


@dataclass(frozen=True)
class SqlStatement:
    """A named SQL text, the schema it needs and the scopes (programs) using it."""

    name: str
    sql: str
    scopes: tuple[str, ...]
    tables: tuple[TableRequirement, ...] = field(default_factory=tuple)


def _columns(types: tuple[str, ...], *names: str, required: bool = True):
    return tuple(ColumnRequirement(name, types, required) for name in names)


_DOMAINS = TableRequirement(
    "domains",
    _columns(INT, "id") + _columns(TEXT, "domain_name") + _columns(BOOL, "is_active"),
    (IndexRequirement(("domain_name",), unique=True, purpose="look up results by name"),),
)
_RECORDS_UNIQUE = IndexRequirement(
    ("domain_id",),
    unique=True,
    purpose="one row per domain; the email store's upsert and joins use it",
)
_RECORDS = TableRequirement(
    "email_security_records",
    _columns(INT, "domain_id", "mx_count")
    + _columns(BOOL, "has_mx", "has_spf", "spf_valid", "has_dmarc", "has_dkim")
    + _columns(TEXT_ARRAY, "mx_records", "dkim_selectors")
    + _columns(TEXT, "spf_record", "dmarc_record", "dmarc_policy")
    + _columns(TIMESTAMP, "created_at", "updated_at", "last_checked")
    + _columns(BOOL, "has_mta_sts", "has_dane", required=False),
    (
        _RECORDS_UNIQUE,
        IndexRequirement(
            ("last_checked",), required=False, purpose="find domains not checked for N days"
        ),
    ),
)
_DETAILS = TableRequirement(
    "email_security_details",
    _columns(INT, "domain_id", "spf_lookup_count", "spf_void_lookup_count", "failure_count")
    + _columns(JSONB, "lookup_status", "findings", "result", "spf_records", "dmarc_records",
               "dkim")
    + _columns(TEXT, "error", "spf_result", "spf_all", "tls_rpt_record", "bimi_record",
               "mta_sts_record", "mta_sts_id", "claimed_by")
    + _columns(BOOL, "complete", "has_tls_rpt", "has_bimi")
    + _columns(TIMESTAMP, "checked_at", "last_attempt_at", "next_attempt_at", "claimed_at",
               "claimed_until"),
    (
        IndexRequirement(("domain_id",), unique=True, purpose="one row per domain (upsert)"),
        IndexRequirement(
            ("next_attempt_at",), required=False, purpose="find domains whose retry is due"
        ),
    ),
)
_ATTEMPTS = TableRequirement(
    "email_check_attempts",
    _columns(INT, "id", "domain_id")
    + _columns(TEXT, "instance", "outcome", "error")
    + _columns(TIMESTAMP, "claimed_at", "finished_at")
    + _columns(BOOL, "complete"),
    (IndexRequirement(("finished_at",), required=False, purpose="prune old attempts"),),
)

_NOW = "(now() AT TIME ZONE 'UTC')"
_TRANSIENT = "('servfail', 'refused', 'timeout', 'error')"

# Expands the JSON array of results ($1) into one row per domain. A result names
# its row by domain_id, or else by domains.domain_name; when a batch has several
# results for one domain, the last one wins. The *_failed columns are true when
# that lookup failed transiently, so the columns it feeds keep their old values.
_BATCH = f"""
WITH input AS (
    SELECT item.value AS r, item.position
    FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS item(value, position)
), resolved AS (
    SELECT COALESCE((i.r->>'domain_id')::integer, d.id) AS domain_id, i.r, i.position
    FROM input i
    LEFT JOIN domains d ON i.r->>'domain_id' IS NULL AND d.domain_name = i.r->>'domain'
), batch AS (
    SELECT DISTINCT ON (domain_id)
        domain_id,
        r,
        NULLIF(r->>'error', '') AS error,
        COALESCE((r->>'complete')::boolean, false) AND NULLIF(r->>'error', '') IS NULL
            AS complete,
        COALESCE(r->'lookups'->>'mx' IN {_TRANSIENT}, false) AS mx_failed,
        COALESCE(r->'lookups'->>'spf' IN {_TRANSIENT}, false) AS spf_failed,
        COALESCE(r->'lookups'->>'dmarc' IN {_TRANSIENT}, false) AS dmarc_failed,
        COALESCE(r->'lookups'->>'dkim' IN {_TRANSIENT}, false) AS dkim_failed,
        COALESCE(r->'lookups'->>'mta_sts' IN {_TRANSIENT}, false) AS mta_sts_failed,
        COALESCE(r->'lookups'->>'tls_rpt' IN {_TRANSIENT}, false) AS tls_rpt_failed,
        COALESCE(r->'lookups'->>'bimi' IN {_TRANSIENT}, false) AS bimi_failed,
        ARRAY(
            SELECT host
            FROM jsonb_array_elements_text(
                CASE WHEN jsonb_typeof(r->'mx_records') = 'array' THEN r->'mx_records'
                     ELSE '[]'::jsonb END) WITH ORDINALITY AS mx(host, rank)
            WHERE host NOT IN ('', '.')
            ORDER BY rank
        ) AS mx_hosts,
        ARRAY(
            SELECT jsonb_array_elements_text(
                CASE WHEN jsonb_typeof(r->'dkim_selectors') = 'array' THEN r->'dkim_selectors'
                     ELSE '[]'::jsonb END)
        ) AS dkim_found
    FROM resolved
    WHERE domain_id IS NOT NULL
    ORDER BY domain_id, position DESC
)"""

# Legacy column values: has_mx only for a real MX host (a null MX "." has none),
# the hosts in preference order, dkim_selectors NULL when empty as the original
# daemon stored it, dmarc_policy the policy in force or NULL.
_LEGACY_VALUES = {
    "has_mx": ("mx", "cardinality(b.mx_hosts) > 0"),
    "mx_records": ("mx", "b.mx_hosts"),
    "mx_count": ("mx", "cardinality(b.mx_hosts)"),
    "has_spf": ("spf", "COALESCE((b.r->>'has_spf')::boolean, false)"),
    "spf_record": ("spf", "b.r->>'spf_record'"),
    "spf_valid": ("spf", "COALESCE((b.r->>'spf_valid')::boolean, false)"),
    "has_dmarc": ("dmarc", "COALESCE((b.r->>'has_dmarc')::boolean, false)"),
    "dmarc_record": ("dmarc", "b.r->>'dmarc_record'"),
    "dmarc_policy": ("dmarc", "lower(NULLIF(b.r->>'dmarc_policy', ''))"),
    "has_dkim": ("dkim", "COALESCE((b.r->>'has_dkim')::boolean, false)"),
    "dkim_selectors": ("dkim", "NULLIF(b.dkim_found, '{}'::text[])"),
}
_MTA_STS_VALUE = {"has_mta_sts": ("mta_sts", "COALESCE((b.r->>'has_mta_sts')::boolean, false)")}


def _update_records(values: dict[str, tuple[str, str]]) -> str:
    assignments = ",\n    ".join(
        f"{column} = CASE WHEN b.{lookup}_failed THEN t.{column} ELSE {expression} END"
        for column, (lookup, expression) in values.items()
    )
    return f"""{_BATCH}
UPDATE email_security_records AS t
SET {assignments},
    updated_at = {_NOW},
    last_checked = CASE WHEN b.complete THEN {_NOW} ELSE t.last_checked END
FROM batch b
WHERE t.domain_id = b.domain_id AND b.error IS NULL
"""


def _insert_records(values: dict[str, tuple[str, str]]) -> str:
    columns = ", ".join(values)
    expressions = ",\n    ".join(
        f"CASE WHEN b.{lookup}_failed THEN NULL ELSE {expression} END"
        for lookup, expression in values.values()
    )
    return f"""{_BATCH}
INSERT INTO email_security_records
    (domain_id, {columns}, created_at, updated_at, last_checked)
SELECT b.domain_id,
    {expressions},
    {_NOW}, {_NOW},
    CASE WHEN b.complete THEN {_NOW} END
FROM batch b
WHERE b.error IS NULL
  AND NOT EXISTS (SELECT 1 FROM email_security_records t WHERE t.domain_id = b.domain_id)
ON CONFLICT (domain_id) DO NOTHING
"""


_SCOPE_EMAILD = ("emaild",)

SELECT_OPTIONAL_EMAIL_COLUMNS = SqlStatement(
    "select_optional_email_columns",
    """
SELECT column_name
FROM information_schema.columns
WHERE table_schema = current_schema() AND table_name = 'email_security_records'
  AND column_name IN ('has_mta_sts', 'has_dane')
""",
    _SCOPE_EMAILD,
)

CLAIM_DUE = SqlStatement(
    "claim_due",
    f"""
WITH due AS (
    SELECT d.id, d.domain_name, r.last_checked
    FROM domains d
    LEFT JOIN email_security_records r ON r.domain_id = d.id
    LEFT JOIN email_security_details s ON s.domain_id = d.id
    WHERE d.is_active IS TRUE
      AND (s.claimed_until IS NULL OR s.claimed_until < {_NOW})
      AND (
            (s.next_attempt_at IS NULL
             AND (r.last_checked IS NULL
                  OR r.last_checked < {_NOW} - make_interval(days => $2::integer)))
         OR s.next_attempt_at <= {_NOW}
      )
    ORDER BY r.last_checked ASC NULLS FIRST, d.id
    LIMIT $1::integer
    FOR UPDATE OF d SKIP LOCKED
), claimed AS (
    INSERT INTO email_security_details AS s (domain_id, claimed_by, claimed_at, claimed_until)
    SELECT id, $3, {_NOW}, {_NOW} + make_interval(secs => $4::double precision)
    FROM due
    ON CONFLICT (domain_id) DO UPDATE
    SET claimed_by = EXCLUDED.claimed_by,
        claimed_at = EXCLUDED.claimed_at,
        claimed_until = EXCLUDED.claimed_until
    -- Re-checked on the newest row version: another instance may have claimed the
    -- domain after this statement's snapshot was taken.
    WHERE s.claimed_until IS NULL OR s.claimed_until < {_NOW}
    RETURNING s.domain_id
)
SELECT due.id, due.domain_name
FROM due
JOIN claimed ON claimed.domain_id = due.id
ORDER BY due.last_checked ASC NULLS FIRST, due.id
""",
    _SCOPE_EMAILD,
    (_DOMAINS, _RECORDS, _DETAILS),
)

RELEASE_CLAIMS = SqlStatement(
    "release_claims",
    """
UPDATE email_security_details
SET claimed_by = NULL, claimed_at = NULL, claimed_until = NULL
WHERE domain_id IN (SELECT jsonb_array_elements_text($1::jsonb)::integer)
  AND claimed_by = $2
""",
    _SCOPE_EMAILD,
    (_DETAILS,),
)

UPDATE_EMAIL_RECORDS = SqlStatement(
    "update_email_records", _update_records(_LEGACY_VALUES), _SCOPE_EMAILD, (_DOMAINS, _RECORDS)
)
INSERT_EMAIL_RECORDS = SqlStatement(
    "insert_email_records", _insert_records(_LEGACY_VALUES), _SCOPE_EMAILD, (_DOMAINS, _RECORDS)
)
# Variants for databases with the MTA-STS columns of the platform's migration 016.
UPDATE_EMAIL_RECORDS_WITH_MTA_STS = SqlStatement(
    "update_email_records_with_mta_sts",
    _update_records({**_LEGACY_VALUES, **_MTA_STS_VALUE}),
    _SCOPE_EMAILD,
    (_DOMAINS, _RECORDS),
)
INSERT_EMAIL_RECORDS_WITH_MTA_STS = SqlStatement(
    "insert_email_records_with_mta_sts",
    _insert_records({**_LEGACY_VALUES, **_MTA_STS_VALUE}),
    _SCOPE_EMAILD,
    (_DOMAINS, _RECORDS),
)


def _keep_if_failed(lookup: str, column: str) -> str:
    return (
        f"{column} = CASE WHEN EXCLUDED.lookup_status->>'{lookup}' IN {_TRANSIENT} "
        f"THEN s.{column} ELSE EXCLUDED.{column} END"
    )


_DETAIL_COLUMNS = {
    "spf_records": ("spf", "b.r->'spf_records'"),
    "spf_lookup_count": ("spf", "(b.r->>'spf_lookup_count')::integer"),
    "spf_void_lookup_count": ("spf", "(b.r->>'spf_void_lookup_count')::integer"),
    "spf_result": ("spf", "b.r->>'spf_result'"),
    "spf_all": ("spf", "b.r->>'spf_all'"),
    "dmarc_records": ("dmarc", "b.r->'dmarc_records'"),
    "dkim": ("dkim", "b.r->'dkim'"),
    "has_tls_rpt": ("tls_rpt", "(b.r->>'has_tls_rpt')::boolean"),
    "tls_rpt_record": ("tls_rpt", "b.r->>'tls_rpt_record'"),
    "has_bimi": ("bimi", "(b.r->>'has_bimi')::boolean"),
    "bimi_record": ("bimi", "b.r->>'bimi_record'"),
    "mta_sts_record": ("mta_sts", "b.r->>'mta_sts_record'"),
    "mta_sts_id": ("mta_sts", "b.r->>'mta_sts_id'"),
}

# Retry schedule: after the n-th consecutive check with a transient lookup
# failure, wait min(1 h * 2^(n-1), 1 day). A result with an error (an invalid
# name) is retried after $3 days, because checking it sooner cannot help.
UPSERT_EMAIL_DETAILS = SqlStatement(
    "upsert_email_details",
    f"""{_BATCH}
INSERT INTO email_security_details AS s (
    domain_id, lookup_status, findings, result, error, {", ".join(_DETAIL_COLUMNS)},
    complete, checked_at, last_attempt_at, next_attempt_at, failure_count,
    claimed_by, claimed_at, claimed_until)
SELECT b.domain_id, b.r->'lookups', b.r->'findings', b.r, b.error,
    {", ".join(expression for _, expression in _DETAIL_COLUMNS.values())},
    b.complete,
    (b.r->>'checked_at')::timestamptz AT TIME ZONE 'UTC',
    {_NOW},
    CASE WHEN b.error IS NOT NULL THEN {_NOW} + make_interval(days => $3::integer)
         WHEN NOT b.complete THEN {_NOW} + interval '1 hour' END,
    CASE WHEN b.complete OR b.error IS NOT NULL THEN 0 ELSE 1 END,
    NULL, NULL, NULL
FROM batch b
ON CONFLICT (domain_id) DO UPDATE SET
    lookup_status = EXCLUDED.lookup_status,
    findings = EXCLUDED.findings,
    result = EXCLUDED.result,
    error = EXCLUDED.error,
    {", ".join(_keep_if_failed(lookup, column) for column, (lookup, _) in _DETAIL_COLUMNS.items())},
    complete = EXCLUDED.complete,
    checked_at = EXCLUDED.checked_at,
    last_attempt_at = EXCLUDED.last_attempt_at,
    failure_count = CASE WHEN EXCLUDED.failure_count = 0 THEN 0 ELSE s.failure_count + 1 END,
    next_attempt_at = CASE
        WHEN EXCLUDED.failure_count = 0 THEN EXCLUDED.next_attempt_at
        ELSE {_NOW} + least(interval '1 hour' * power(2, least(s.failure_count, 10)),
                            interval '1 day') END,
    claimed_by = CASE WHEN s.claimed_by = $2 THEN NULL ELSE s.claimed_by END,
    claimed_at = CASE WHEN s.claimed_by = $2 THEN NULL ELSE s.claimed_at END,
    claimed_until = CASE WHEN s.claimed_by = $2 THEN NULL ELSE s.claimed_until END
RETURNING s.domain_id
""",
    _SCOPE_EMAILD,
    (_DOMAINS, _DETAILS),
)

# Runs before UPSERT_EMAIL_DETAILS in the same transaction, so it still sees the
# claim time of each domain.
INSERT_EMAIL_ATTEMPTS = SqlStatement(
    "insert_email_attempts",
    f"""{_BATCH}
INSERT INTO email_check_attempts
    (domain_id, instance, claimed_at, finished_at, outcome, complete, error)
SELECT b.domain_id, $2,
    (SELECT s.claimed_at FROM email_security_details s
     WHERE s.domain_id = b.domain_id AND s.claimed_by = $2),
    {_NOW},
    CASE WHEN b.error IS NOT NULL THEN 'invalid'
         WHEN b.complete THEN 'complete'
         ELSE 'transient' END,
    b.complete,
    COALESCE(b.error, (
        SELECT string_agg(status.key || ' ' || status.value, ', ' ORDER BY status.key)
        FROM jsonb_each_text(b.r->'lookups') AS status
        WHERE status.value IN {_TRANSIENT}))
FROM batch b
""",
    _SCOPE_EMAILD,
    (_DOMAINS, _DETAILS, _ATTEMPTS),
)

PRUNE_EMAIL_ATTEMPTS = SqlStatement(
    "prune_email_attempts",
    f"DELETE FROM email_check_attempts WHERE finished_at < {_NOW} - make_interval(days => $1::integer)",
    _SCOPE_EMAILD,
    (_ATTEMPTS,),
)

SELECT_EMAIL_RESULTS = SqlStatement(
    "select_email_results",
    """
SELECT d.id AS domain_id, d.domain_name,
    r.has_mx, r.mx_records, r.mx_count, r.has_spf, r.spf_record, r.spf_valid,
    r.has_dmarc, r.dmarc_record, r.dmarc_policy, r.has_dkim, r.dkim_selectors,
    to_char(r.last_checked, 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS last_checked,
    s.complete, s.error, s.lookup_status::text AS lookup_status, s.findings::text AS findings,
    s.failure_count,
    to_char(s.checked_at, 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS checked_at,
    to_char(s.next_attempt_at, 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS next_attempt_at,
    s.result::text AS result
FROM domains d
JOIN email_security_records r ON r.domain_id = d.id
LEFT JOIN email_security_details s ON s.domain_id = d.id
WHERE ($1::jsonb IS NULL OR d.domain_name IN (SELECT jsonb_array_elements_text($1::jsonb)))
ORDER BY d.domain_name
LIMIT $2::integer
""",
    ("emaild", "results"),
    (_DOMAINS, _RECORDS, _DETAILS),
)

#: Every statement of the email store, for the schema check and the tests.
EMAIL_STATEMENTS: tuple[SqlStatement, ...] = (
    SELECT_OPTIONAL_EMAIL_COLUMNS,
    CLAIM_DUE,
    RELEASE_CLAIMS,
    UPDATE_EMAIL_RECORDS,
    INSERT_EMAIL_RECORDS,
    UPDATE_EMAIL_RECORDS_WITH_MTA_STS,
    INSERT_EMAIL_RECORDS_WITH_MTA_STS,
    INSERT_EMAIL_ATTEMPTS,
    UPSERT_EMAIL_DETAILS,
    PRUNE_EMAIL_ATTEMPTS,
    SELECT_EMAIL_RESULTS,
)
