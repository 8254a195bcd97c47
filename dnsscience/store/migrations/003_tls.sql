-- TLS certificate storage for the ssl_scanner and ssl_monitord daemons.
--
-- Additive only: existing tables gain nullable columns, nothing is dropped or
-- rewritten, and every statement is safe to run again. The legacy table
-- ssl_certificates keeps its columns and its readers. Everything else the prober
-- extracts goes to certificate_details. New time columns are timestamptz, and the
-- legacy timestamp columns are written in UTC by dnsscience/store/tls.py.

-- The legacy shape of ssl_certificates, for a database that never had it.
CREATE TABLE IF NOT EXISTS ssl_certificates (
    id SERIAL PRIMARY KEY,
    domain_name VARCHAR(255),
    port INTEGER,
    subject_cn VARCHAR(255),
    issuer_cn VARCHAR(255),
    valid_from TIMESTAMP,
    valid_to TIMESTAMP,
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    expires_at TIMESTAMP,
    last_checked TIMESTAMP
);

-- Both SSL daemons upsert with ON CONFLICT (domain_name, port). Production got this
-- key by hand, under this name; add it only where no unique index on exactly these
-- two columns exists, whatever its name.
DO $$
BEGIN
    IF NOT EXISTS (
        SELECT 1
        FROM pg_index i
        WHERE i.indrelid = 'ssl_certificates'::regclass
          AND i.indisunique
          AND i.indpred IS NULL
          AND i.indnatts = 2
          AND (SELECT array_agg(a.attname::text ORDER BY a.attname)
               FROM pg_attribute a
               WHERE a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey))
              = ARRAY['domain_name', 'port']
    ) THEN
        ALTER TABLE ssl_certificates
            ADD CONSTRAINT ssl_certificates_domain_port_unique UNIQUE (domain_name, port);
    END IF;
END
$$;

CREATE INDEX IF NOT EXISTS idx_ssl_certificates_expires_at ON ssl_certificates (expires_at);

-- Scheduling and claiming of TLS scans, per domain. The lease lives in the domains
-- row itself, so a claim that locks the row (FOR UPDATE SKIP LOCKED) re-reads the
-- lease of the row it locked and two daemons never hold the same domain.
ALTER TABLE domains ADD COLUMN IF NOT EXISTS tls_next_attempt_at TIMESTAMPTZ;
ALTER TABLE domains ADD COLUMN IF NOT EXISTS tls_failure_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE domains ADD COLUMN IF NOT EXISTS tls_lease_owner TEXT;
ALTER TABLE domains ADD COLUMN IF NOT EXISTS tls_lease_expires_at TIMESTAMPTZ;

COMMENT ON COLUMN domains.tls_next_attempt_at IS
    'When the domain is next due for a TLS scan; NULL falls back to last_ssl_scan';
COMMENT ON COLUMN domains.tls_failure_count IS
    'Consecutive TLS scans that failed transiently; sets the retry backoff';
COMMENT ON COLUMN domains.tls_lease_owner IS
    'host:pid of the TLS daemon that claimed the domain, until tls_lease_expires_at';

CREATE INDEX IF NOT EXISTS idx_domains_tls_next_attempt ON domains (tls_next_attempt_at);
CREATE INDEX IF NOT EXISTS idx_domains_last_ssl_scan ON domains (last_ssl_scan);

-- One row per probe of one (domain, port, address), successful or not.
CREATE TABLE IF NOT EXISTS tls_scan_attempts (
    id BIGSERIAL PRIMARY KEY,
    domain_id INTEGER,
    domain_name TEXT NOT NULL,
    port INTEGER NOT NULL,
    address TEXT,
    sni TEXT,
    starttls TEXT,
    attempted_at TIMESTAMPTZ NOT NULL,
    elapsed_ms INTEGER,
    status TEXT NOT NULL,
    stage TEXT,
    reason TEXT,
    detail TEXT,
    transient BOOLEAN,
    protocol TEXT,
    cipher TEXT,
    sha256_fingerprint TEXT,
    banner TEXT,
    daemon TEXT
);
CREATE INDEX IF NOT EXISTS idx_tls_scan_attempts_attempted_at
    ON tls_scan_attempts (attempted_at);
CREATE INDEX IF NOT EXISTS idx_tls_scan_attempts_domain_port
    ON tls_scan_attempts (domain_name, port, attempted_at DESC);

COMMENT ON TABLE tls_scan_attempts IS
    'Every TLS probe with its outcome; rows older than the retention period are deleted';

-- Everything the prober extracts from the last certificate seen on (domain, port).
-- A failed attempt never changes a row.
CREATE TABLE IF NOT EXISTS certificate_details (
    domain_name TEXT NOT NULL,
    port INTEGER NOT NULL,
    address TEXT,
    sni TEXT,
    starttls TEXT,
    status TEXT NOT NULL,
    findings JSONB NOT NULL DEFAULT '[]'::jsonb,
    trusted BOOLEAN,
    verify_error TEXT,
    verify_error_code INTEGER,
    hostname_match BOOLEAN,
    protocol TEXT,
    cipher TEXT,
    alpn TEXT,
    ocsp_stapled BOOLEAN,
    subject_cn TEXT,
    subject_o TEXT,
    issuer_cn TEXT,
    issuer_o TEXT,
    sans JSONB NOT NULL DEFAULT '[]'::jsonb,
    not_before TIMESTAMPTZ,
    not_after TIMESTAMPTZ,
    serial TEXT,
    signature_algorithm TEXT,
    key_type TEXT,
    key_bits INTEGER,
    key_curve TEXT,
    sha256_fingerprint TEXT NOT NULL,
    spki_sha256 TEXT,
    sct_count INTEGER,
    ocsp_urls JSONB NOT NULL DEFAULT '[]'::jsonb,
    crl_urls JSONB NOT NULL DEFAULT '[]'::jsonb,
    ca_issuers_urls JSONB NOT NULL DEFAULT '[]'::jsonb,
    key_usage JSONB NOT NULL DEFAULT '[]'::jsonb,
    extended_key_usage JSONB NOT NULL DEFAULT '[]'::jsonb,
    self_signed BOOLEAN,
    chain JSONB NOT NULL DEFAULT '[]'::jsonb,
    first_seen_at TIMESTAMPTZ NOT NULL,
    last_seen_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (domain_name, port)
);
CREATE INDEX IF NOT EXISTS idx_certificate_details_not_after ON certificate_details (not_after);

-- One row each time (domain, port) presents a certificate with a new SHA-256
-- fingerprint, the first sighting included (previous_sha256_fingerprint NULL).
CREATE TABLE IF NOT EXISTS certificate_changes (
    id BIGSERIAL PRIMARY KEY,
    domain_name TEXT NOT NULL,
    port INTEGER NOT NULL,
    detected_at TIMESTAMPTZ NOT NULL,
    sha256_fingerprint TEXT NOT NULL,
    previous_sha256_fingerprint TEXT,
    subject_cn TEXT,
    issuer_cn TEXT,
    serial TEXT,
    not_before TIMESTAMPTZ,
    not_after TIMESTAMPTZ
);
CREATE INDEX IF NOT EXISTS idx_certificate_changes_domain_port
    ON certificate_changes (domain_name, port, detected_at DESC);

-- Certificate alerts: one row per (domain, port, kind). Raising an alert that is
-- already open refreshes last_seen_at, and resolved_at is set when the condition
-- ends and cleared if it returns.
CREATE TABLE IF NOT EXISTS tls_alerts (
    id BIGSERIAL PRIMARY KEY,
    domain_name TEXT NOT NULL,
    port INTEGER NOT NULL,
    kind TEXT NOT NULL
        CHECK (kind IN ('expiring', 'expired', 'untrusted', 'hostname_mismatch')),
    severity TEXT NOT NULL CHECK (severity IN ('high', 'medium', 'low')),
    message TEXT NOT NULL,
    sha256_fingerprint TEXT,
    not_after TIMESTAMPTZ,
    raised_at TIMESTAMPTZ NOT NULL,
    last_seen_at TIMESTAMPTZ NOT NULL,
    resolved_at TIMESTAMPTZ,
    CONSTRAINT tls_alerts_domain_port_kind_unique UNIQUE (domain_name, port, kind)
);
CREATE INDEX IF NOT EXISTS idx_tls_alerts_open ON tls_alerts (severity) WHERE resolved_at IS NULL;
