-- The tables of the original platform that the daemons read and write, with the
-- types seen in production. On an empty database this creates them; on the
-- production database it only adds what is missing: every statement is
-- IF NOT EXISTS or checks the catalog first, and nothing is dropped or rewritten.

CREATE TABLE IF NOT EXISTS domains (
    id SERIAL PRIMARY KEY,
    domain_name TEXT UNIQUE NOT NULL,
    first_checked TIMESTAMP,
    last_checked TIMESTAMP,
    created_at TIMESTAMP DEFAULT (now() AT TIME ZONE 'UTC'),
    is_active BOOLEAN DEFAULT TRUE,
    created_by_user_id INTEGER,
    last_ssl_scan TIMESTAMP
);
ALTER TABLE domains
    ADD COLUMN IF NOT EXISTS first_checked TIMESTAMP,
    ADD COLUMN IF NOT EXISTS last_checked TIMESTAMP,
    ADD COLUMN IF NOT EXISTS created_at TIMESTAMP DEFAULT (now() AT TIME ZONE 'UTC'),
    ADD COLUMN IF NOT EXISTS is_active BOOLEAN DEFAULT TRUE,
    ADD COLUMN IF NOT EXISTS created_by_user_id INTEGER,
    ADD COLUMN IF NOT EXISTS last_ssl_scan TIMESTAMP;
CREATE INDEX IF NOT EXISTS idx_domains_last_checked ON domains (last_checked) WHERE is_active = TRUE;

CREATE TABLE IF NOT EXISTS email_security_records (
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
    created_at TIMESTAMP DEFAULT (now() AT TIME ZONE 'UTC'),
    updated_at TIMESTAMP DEFAULT (now() AT TIME ZONE 'UTC'),
    last_checked TIMESTAMP
);
ALTER TABLE email_security_records
    ADD COLUMN IF NOT EXISTS has_mx BOOLEAN,
    ADD COLUMN IF NOT EXISTS mx_count INTEGER,
    ADD COLUMN IF NOT EXISTS mx_records TEXT[],
    ADD COLUMN IF NOT EXISTS has_spf BOOLEAN,
    ADD COLUMN IF NOT EXISTS spf_record TEXT,
    ADD COLUMN IF NOT EXISTS spf_valid BOOLEAN,
    ADD COLUMN IF NOT EXISTS has_dmarc BOOLEAN,
    ADD COLUMN IF NOT EXISTS dmarc_record TEXT,
    ADD COLUMN IF NOT EXISTS dmarc_policy VARCHAR(50),
    ADD COLUMN IF NOT EXISTS has_dkim BOOLEAN,
    ADD COLUMN IF NOT EXISTS dkim_selectors TEXT[],
    ADD COLUMN IF NOT EXISTS email_security_score INTEGER,
    ADD COLUMN IF NOT EXISTS created_at TIMESTAMP DEFAULT (now() AT TIME ZONE 'UTC'),
    ADD COLUMN IF NOT EXISTS updated_at TIMESTAMP DEFAULT (now() AT TIME ZONE 'UTC'),
    ADD COLUMN IF NOT EXISTS last_checked TIMESTAMP,
    -- The platform's migration 015 (DANE).
    ADD COLUMN IF NOT EXISTS has_dane BOOLEAN DEFAULT FALSE,
    ADD COLUMN IF NOT EXISTS tlsa_records JSONB DEFAULT '[]'::jsonb,
    ADD COLUMN IF NOT EXISTS tlsa_count INTEGER DEFAULT 0,
    -- The platform's migration 016 (MTA-STS).
    ADD COLUMN IF NOT EXISTS has_mta_sts BOOLEAN DEFAULT FALSE,
    ADD COLUMN IF NOT EXISTS mta_sts_policy TEXT,
    ADD COLUMN IF NOT EXISTS mta_sts_mode VARCHAR(20),
    ADD COLUMN IF NOT EXISTS mta_sts_max_age INTEGER;
CREATE INDEX IF NOT EXISTS idx_email_security_dane
    ON email_security_records (has_dane) WHERE has_dane = TRUE;
CREATE INDEX IF NOT EXISTS idx_email_security_mta_sts
    ON email_security_records (has_mta_sts) WHERE has_mta_sts = TRUE;
CREATE INDEX IF NOT EXISTS idx_email_security_mta_sts_mode
    ON email_security_records (mta_sts_mode) WHERE mta_sts_mode IS NOT NULL;

-- The upserts need a unique index on exactly (domain_id). Production may have
-- one under an unknown name, so look for it by its columns before adding one.
-- Duplicate domain_id rows make the CREATE fail, and the migration with it.
DO $$
BEGIN
    IF NOT EXISTS (
        SELECT 1
        FROM pg_index i
        JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
        WHERE i.indrelid = 'email_security_records'::regclass
          AND i.indisunique AND i.indpred IS NULL AND i.indexprs IS NULL
          AND i.indnatts = 1 AND a.attname = 'domain_id'
    ) THEN
        CREATE UNIQUE INDEX email_security_records_domain_id_unique
            ON email_security_records (domain_id);
    END IF;
END
$$;

CREATE TABLE IF NOT EXISTS ssl_certificates (
    id SERIAL PRIMARY KEY,
    domain_name VARCHAR(255),
    port INTEGER,
    subject_cn VARCHAR(255),
    issuer_cn VARCHAR(255),
    valid_from TIMESTAMP,
    valid_to TIMESTAMP,
    created_at TIMESTAMP DEFAULT (now() AT TIME ZONE 'UTC'),
    expires_at TIMESTAMP,
    last_checked TIMESTAMP
);
ALTER TABLE ssl_certificates
    ADD COLUMN IF NOT EXISTS domain_name VARCHAR(255),
    ADD COLUMN IF NOT EXISTS port INTEGER,
    ADD COLUMN IF NOT EXISTS subject_cn VARCHAR(255),
    ADD COLUMN IF NOT EXISTS issuer_cn VARCHAR(255),
    ADD COLUMN IF NOT EXISTS valid_from TIMESTAMP,
    ADD COLUMN IF NOT EXISTS valid_to TIMESTAMP,
    ADD COLUMN IF NOT EXISTS created_at TIMESTAMP DEFAULT (now() AT TIME ZONE 'UTC'),
    ADD COLUMN IF NOT EXISTS expires_at TIMESTAMP,
    ADD COLUMN IF NOT EXISTS last_checked TIMESTAMP;

-- ON CONFLICT (domain_name, port) needs a unique index on exactly these columns,
-- in either order; production has the constraint below, added by hand.
DO $$
BEGIN
    IF NOT EXISTS (
        SELECT 1
        FROM pg_index i
        WHERE i.indrelid = 'ssl_certificates'::regclass
          AND i.indisunique AND i.indpred IS NULL AND i.indexprs IS NULL
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
