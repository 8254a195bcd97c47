-- What the original platform has no place for: the full email check result, the
-- status of each lookup, the retry schedule and the work lease of each domain,
-- and a log of check attempts.

CREATE TABLE IF NOT EXISTS email_security_details (
    domain_id INTEGER PRIMARY KEY REFERENCES domains (id) ON DELETE CASCADE,
    -- {"mx": "data", "spf": "timeout", ...}: the DNS status of each lookup.
    lookup_status JSONB,
    findings JSONB,
    -- The whole JSON result of the last check.
    result JSONB,
    error TEXT,
    spf_records JSONB,
    spf_lookup_count INTEGER,
    spf_void_lookup_count INTEGER,
    spf_result TEXT,
    spf_all TEXT,
    dmarc_records JSONB,
    dkim JSONB,
    has_tls_rpt BOOLEAN,
    tls_rpt_record TEXT,
    has_bimi BOOLEAN,
    bimi_record TEXT,
    mta_sts_record TEXT,
    mta_sts_id TEXT,
    -- True when every lookup of the last check finished definitively.
    complete BOOLEAN NOT NULL DEFAULT FALSE,
    checked_at TIMESTAMP,
    last_attempt_at TIMESTAMP,
    -- Earliest time of the next check after a failed one; NULL when the domain is
    -- due by email_security_records.last_checked alone.
    next_attempt_at TIMESTAMP,
    -- Consecutive checks with a transient lookup failure (drives the back-off).
    failure_count INTEGER NOT NULL DEFAULT 0,
    -- The instance (host:pid) that claimed the domain, until claimed_until (UTC).
    claimed_by TEXT,
    claimed_at TIMESTAMP,
    claimed_until TIMESTAMP
);
CREATE INDEX IF NOT EXISTS idx_email_security_details_next_attempt
    ON email_security_details (next_attempt_at) WHERE next_attempt_at IS NOT NULL;

-- The due-work query orders and filters by the age of the last complete check.
CREATE INDEX IF NOT EXISTS idx_email_security_records_last_checked
    ON email_security_records (last_checked);

CREATE TABLE IF NOT EXISTS email_check_attempts (
    id BIGSERIAL PRIMARY KEY,
    domain_id INTEGER NOT NULL REFERENCES domains (id) ON DELETE CASCADE,
    instance TEXT NOT NULL,
    claimed_at TIMESTAMP,
    finished_at TIMESTAMP NOT NULL,
    -- complete, transient (a lookup timed out or failed) or invalid (error set).
    outcome TEXT NOT NULL,
    complete BOOLEAN NOT NULL,
    error TEXT
);
CREATE INDEX IF NOT EXISTS idx_email_check_attempts_finished
    ON email_check_attempts (finished_at);
CREATE INDEX IF NOT EXISTS idx_email_check_attempts_domain
    ON email_check_attempts (domain_id, finished_at);
