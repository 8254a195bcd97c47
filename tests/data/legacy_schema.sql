-- A production-shaped legacy database as the original daemons found it: the
-- tables and columns seen in production after the platform's migrations 001-014,
-- without the DANE (015) and MTA-STS (016) columns, and a few rows in each table.
-- The test fixture legacy_database loads this file into a fresh database.

CREATE TABLE schema_migrations (
    version VARCHAR(255) PRIMARY KEY,
    applied_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    checksum VARCHAR(64),
    execution_time INTERVAL,
    success BOOLEAN DEFAULT TRUE
);

CREATE TABLE domains (
    id SERIAL PRIMARY KEY,
    domain_name TEXT UNIQUE NOT NULL,
    first_checked TIMESTAMP,
    last_checked TIMESTAMP,
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    is_active BOOLEAN DEFAULT TRUE,
    created_by_user_id INTEGER,
    last_ssl_scan TIMESTAMP
);
CREATE INDEX idx_domains_last_checked ON domains (last_checked) WHERE is_active = TRUE;

-- The unique key on domain_id carries a name that no dnsscience migration uses,
-- so migration 001 must recognise it by its columns, not by its name.
CREATE TABLE email_security_records (
    id SERIAL PRIMARY KEY,
    domain_id INTEGER REFERENCES domains (id),
    has_mx BOOLEAN,
    mx_count INTEGER,
    mx_records TEXT[],
    has_spf BOOLEAN,
    spf_record TEXT,
    spf_valid BOOLEAN,
    has_dmarc BOOLEAN,
    dmarc_record TEXT,
    dmarc_policy VARCHAR(50),
    has_dkim BOOLEAN,
    dkim_selectors TEXT[],
    email_security_score INTEGER,
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    last_checked TIMESTAMP,
    CONSTRAINT email_security_records_domain_id_key UNIQUE (domain_id)
);

CREATE TABLE ssl_certificates (
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
ALTER TABLE ssl_certificates
    ADD CONSTRAINT ssl_certificates_domain_port_unique UNIQUE (domain_name, port);

CREATE TABLE certificate_history (
    id SERIAL PRIMARY KEY,
    domain_id INTEGER REFERENCES domains (id),
    scan_timestamp TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    port INTEGER DEFAULT 443,
    service VARCHAR(50),
    subject_cn TEXT,
    subject_o TEXT,
    subject_ou TEXT,
    subject_c TEXT,
    subject_st TEXT,
    subject_l TEXT,
    issuer_cn TEXT,
    issuer_o TEXT,
    issuer_c TEXT,
    sha1_fingerprint VARCHAR(64),
    sha256_fingerprint VARCHAR(128),
    san TEXT,
    san_count INTEGER,
    not_before TIMESTAMP,
    not_after TIMESTAMP,
    days_until_expiry INTEGER,
    is_expired BOOLEAN,
    serial_number TEXT,
    version INTEGER,
    cert_pem TEXT,
    tls_version VARCHAR(20),
    cipher_suite TEXT,
    is_valid BOOLEAN,
    validation_errors TEXT
);

CREATE VIEW expiring_certificates AS
    SELECT ch.*, d.domain_name
    FROM certificate_history ch JOIN domains d ON d.id = ch.domain_id
    WHERE ch.not_after BETWEEN NOW() AND NOW() + INTERVAL '30 days';

CREATE VIEW expired_certificates AS
    SELECT ch.*, d.domain_name
    FROM certificate_history ch JOIN domains d ON d.id = ch.domain_id
    WHERE ch.not_after < NOW();

CREATE TABLE ssl_scan_results (
    id SERIAL PRIMARY KEY,
    domain_name VARCHAR(255) NOT NULL,
    port INTEGER NOT NULL,
    scanned_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    grade VARCHAR(3),
    certificate_data JSONB,
    expires_at TIMESTAMP,
    is_expired BOOLEAN DEFAULT FALSE,
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX idx_ssl_scan_results_domain ON ssl_scan_results (domain_name);
CREATE INDEX idx_ssl_scan_results_port ON ssl_scan_results (port);
CREATE INDEX idx_ssl_scan_results_grade ON ssl_scan_results (grade);
CREATE INDEX idx_ssl_scan_results_expired ON ssl_scan_results (is_expired);

CREATE TABLE ssl_scan_queue (
    id SERIAL PRIMARY KEY,
    domain VARCHAR(255) NOT NULL,
    port INTEGER DEFAULT 443,
    priority INTEGER DEFAULT 5,
    queued_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    scanned_at TIMESTAMP,
    status VARCHAR(20) DEFAULT 'pending'
);

CREATE TABLE system_config (
    key VARCHAR(255) PRIMARY KEY,
    value TEXT
);

INSERT INTO schema_migrations (version, applied_at, checksum, execution_time, success)
SELECT lpad(n::text, 3, '0'),
       TIMESTAMP '2025-10-01 00:00:00' + n * INTERVAL '1 day',
       md5(n::text) || md5(n::text),
       INTERVAL '150 milliseconds',
       TRUE
FROM generate_series(1, 14) AS n;

INSERT INTO domains (domain_name, first_checked, last_checked, created_at, is_active,
                     created_by_user_id, last_ssl_scan) VALUES
    ('example.com', '2025-11-14 03:00:00', '2025-11-14 03:00:00', '2025-11-01 00:00:00', TRUE, NULL, '2025-11-15 05:00:00'),
    ('example.net', '2025-11-14 03:01:00', '2025-11-14 03:01:00', '2025-11-01 00:00:00', TRUE, NULL, NULL),
    ('example.org', NULL, NULL, '2025-11-01 00:00:00', TRUE, 7, NULL),
    ('retired.example', '2025-11-10 00:00:00', '2025-11-10 00:00:00', '2025-10-01 00:00:00', FALSE, NULL, NULL),
    ('mail.example', NULL, NULL, '2025-11-01 00:00:00', TRUE, NULL, NULL);

INSERT INTO email_security_records (domain_id, has_mx, mx_count, mx_records, has_spf, spf_record,
                                    spf_valid, has_dmarc, dmarc_record, dmarc_policy, has_dkim,
                                    dkim_selectors, last_checked) VALUES
    (1, TRUE, 2, ARRAY['mx1.example.com', 'mx2.example.com'], TRUE, 'v=spf1 mx -all', TRUE,
     TRUE, 'v=DMARC1; p=reject', 'reject', TRUE, ARRAY['default'], '2025-11-15 05:10:00'),
    (2, FALSE, 0, '{}', FALSE, NULL, FALSE, FALSE, NULL, NULL, FALSE, NULL, '2025-11-15 05:11:00');

INSERT INTO ssl_certificates (domain_name, port, subject_cn, issuer_cn, valid_from, valid_to,
                              created_at, expires_at, last_checked) VALUES
    ('example.com', 443, 'example.com', 'R3', '2025-10-01 00:00:00', '2025-12-30 00:00:00',
     '2025-11-15 05:00:00', '2025-12-30 00:00:00', '2025-11-15 05:00:00'),
    ('example.net', 443, 'example.net', 'Unknown', '2025-01-01 00:00:00', '2025-04-01 00:00:00',
     '2025-11-15 05:01:00', '2025-04-01 00:00:00', '2025-11-15 05:01:00');

INSERT INTO certificate_history (domain_id, port, service, subject_cn, issuer_cn, san, san_count,
                                 not_before, not_after, days_until_expiry, is_expired, is_valid) VALUES
    (1, 443, 'https', 'example.com', 'R3', '["example.com", "www.example.com"]', 2,
     '2025-10-01 00:00:00', '2025-12-30 00:00:00', 45, FALSE, TRUE),
    (2, 443, 'https', 'example.net', 'Example CA', '["example.net"]', 1,
     '2025-01-01 00:00:00', '2025-04-01 00:00:00', -228, TRUE, FALSE);

INSERT INTO ssl_scan_results (domain_name, port, grade, certificate_data, expires_at, is_expired) VALUES
    ('example.com', 443, 'A', '{"subject": {"commonName": "example.com"}}', '2025-12-30 00:00:00', FALSE),
    ('example.net', 443, 'F', '{"subject": {"commonName": "example.net"}}', '2025-04-01 00:00:00', TRUE);

INSERT INTO ssl_scan_queue (domain, port, priority, status) VALUES
    ('example.org', 443, 5, 'pending'),
    ('mail.example', 993, 3, 'pending');

INSERT INTO system_config (key, value) VALUES
    ('email_scan_batch_size', '50'),
    ('ssl_scan_interval_days', '7');
