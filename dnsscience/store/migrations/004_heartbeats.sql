-- Heartbeats of the daemon processes: one row per process, upserted after each
-- batch and each idle pass, read by 'dnsscience health' and the dashboard.
-- Times are timestamptz because this table is new; the legacy tables keep
-- their timestamp columns.

CREATE TABLE IF NOT EXISTS daemon_heartbeats (
    daemon             text             NOT NULL,
    host               text             NOT NULL,
    pid                integer          NOT NULL,
    version            text             NOT NULL,
    started_at         timestamptz      NOT NULL,
    last_beat_at       timestamptz      NOT NULL,
    state              text             NOT NULL DEFAULT 'starting'
        CHECK (state IN ('starting', 'working', 'idle', 'stopped')),
    idle_seconds       double precision NOT NULL CHECK (idle_seconds > 0),
    last_batch_size    integer,
    last_batch_seconds double precision,
    last_progress_at   timestamptz,
    items_total        bigint           NOT NULL DEFAULT 0,
    rate_per_second    double precision,
    errors             jsonb            NOT NULL DEFAULT '{}'::jsonb,
    PRIMARY KEY (daemon, host, pid)
);

CREATE INDEX IF NOT EXISTS idx_daemon_heartbeats_last_beat_at
    ON daemon_heartbeats (last_beat_at);

COMMENT ON TABLE daemon_heartbeats IS
    'One row per dnsscience daemon process; written by the daemon, read by dnsscience health';
COMMENT ON COLUMN daemon_heartbeats.idle_seconds IS
    'Pause of the daemon after a pass with nothing due; a beat older than 3 times this (or the last batch) is stale';
COMMENT ON COLUMN daemon_heartbeats.last_progress_at IS
    'End of the last batch that stored at least one item';
COMMENT ON COLUMN daemon_heartbeats.errors IS
    'Errors counted by kind since the process started, such as {"timeout": 12}';

-- How long rows of the history tables are kept, in days. Check attempts
-- (email_check_attempts, tls_scan_attempts) follow DNSSCIENCE_ATTEMPT_RETENTION_DAYS
-- instead, because the daemons read it from their settings.
CREATE TABLE IF NOT EXISTS dnsscience_retention (
    table_name text    PRIMARY KEY
        CHECK (table_name IN ('daemon_heartbeats', 'certificate_changes')),
    keep_days  integer NOT NULL CHECK (keep_days >= 1)
);

-- A heartbeat row older than a week belongs to a process long gone. Certificate
-- changes are kept 1825 days (5 years), as the original web application keeps
-- certificate_history.
INSERT INTO dnsscience_retention (table_name, keep_days)
VALUES ('daemon_heartbeats', 7), ('certificate_changes', 1825)
ON CONFLICT (table_name) DO NOTHING;

COMMENT ON TABLE dnsscience_retention IS
    'Days that dnsscience keeps rows of each history table; change keep_days to adjust';
