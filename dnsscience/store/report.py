"""Summaries of the stored email results, as printed by ``dnsscience demo``."""

from __future__ import annotations

from typing import Any

from dnsscience.store.statements import SqlStatement

__all__ = ["email_report"]

_SCOPE = ("report",)

REPORT_EMAIL_COVERAGE = SqlStatement(
    "report_email_coverage",
    """
SELECT
    (SELECT count(*) FROM domains) AS domains,
    count(*) FILTER (WHERE r.last_checked IS NOT NULL) AS checked,
    count(*) FILTER (WHERE s.complete) AS complete,
    count(*) FILTER (WHERE NOT s.complete AND s.error IS NULL) AS incomplete,
    count(*) FILTER (WHERE s.error IS NOT NULL) AS invalid,
    count(*) FILTER (WHERE r.has_mx) AS has_mx,
    count(*) FILTER (WHERE (s.result ->> 'null_mx')::boolean) AS null_mx,
    count(*) FILTER (WHERE r.has_spf) AS has_spf,
    count(*) FILTER (WHERE r.has_dmarc) AS has_dmarc,
    count(*) FILTER (WHERE r.has_dkim) AS has_dkim,
    count(*) FILTER (WHERE (s.result ->> 'has_mta_sts')::boolean) AS has_mta_sts,
    count(*) FILTER (WHERE s.has_tls_rpt) AS has_tls_rpt,
    count(*) FILTER (WHERE s.has_bimi) AS has_bimi,
    count(*) FILTER (WHERE r.has_spf AND NOT r.spf_valid) AS spf_invalid,
    count(*) FILTER (WHERE r.has_dmarc AND r.dmarc_policy IS NULL) AS dmarc_invalid
FROM email_security_details s
LEFT JOIN email_security_records r ON r.domain_id = s.domain_id
""",
    _SCOPE,
)

REPORT_EMAIL_FINDINGS = SqlStatement(
    "report_email_findings",
    """
SELECT finding ->> 'code' AS code, count(*) AS domains
FROM email_security_details s
CROSS JOIN LATERAL jsonb_array_elements(coalesce(s.findings, '[]'::jsonb)) AS finding
GROUP BY 1
ORDER BY 2 DESC, 1
""",
    _SCOPE,
)

REPORT_EMAIL_LOOKUP_FAILURES = SqlStatement(
    "report_email_lookup_failures",
    """
SELECT status.key AS lookup, status.value AS status, count(*) AS domains
FROM email_security_details s
CROSS JOIN LATERAL jsonb_each_text(coalesce(s.lookup_status, '{}'::jsonb)) AS status
WHERE status.value IN ('timeout', 'servfail', 'refused', 'error')
GROUP BY 1, 2
ORDER BY 3 DESC, 1, 2
""",
    _SCOPE,
)


def email_report(connection: Any) -> dict[str, Any]:
    """Return coverage counts, findings by code and lookup failures by kind."""
    columns, rows, _ = connection.execute(REPORT_EMAIL_COVERAGE.sql)
    report = {name: int(value or 0) for name, value in zip(columns, rows[0], strict=True)}
    _, rows, _ = connection.execute(REPORT_EMAIL_FINDINGS.sql)
    report["findings"] = [(code, int(count)) for code, count in rows]
    _, rows, _ = connection.execute(REPORT_EMAIL_LOOKUP_FAILURES.sql)
    report["lookup_failures"] = [(lookup, status, int(count)) for lookup, status, count in rows]
    return report
