"""Tests of dnsscience.config: env file syntax, precedence, validation, redaction."""

import pytest

from dnsscience import ConfigurationError
from dnsscience.config import Settings, parse_env_file


def test_defaults_without_variables():
    settings = Settings.from_environment(env={})
    assert settings.concurrency == 500
    assert settings.batch_size == 1000
    assert settings.rescan_days == 7
    assert settings.qps == 0
    assert settings.lease_seconds == 600
    assert settings.metrics_port == 0
    assert settings.ssl_scanner_workers == 500
    assert settings.tls_connection_limit == 2000
    assert settings.tls_ports == (443,)
    assert settings.nameservers == ()
    assert settings.dkim_selectors == ()
    assert settings.ca_file is None


def test_libpq_variables_when_nothing_set():
    settings = Settings.from_environment(env={"PGHOST": "127.0.0.1"})
    assert settings.conninfo() == ""
    assert settings.database_source == "PG*"


def test_database_url_wins_over_db_variables():
    settings = Settings.from_environment(env={
        "DATABASE_URL": "postgresql://u:p@127.0.0.1:6432/x",
        "DB_HOST": "127.0.0.2",
        "DB_PASS": "other",
    })
    assert settings.conninfo() == "postgresql://u:p@127.0.0.1:6432/x"
    assert settings.database_source == "DATABASE_URL"


def test_db_variables_build_conninfo():
    settings = Settings.from_environment(env={
        "DB_HOST": "127.0.0.1",
        "DB_PORT": "6432",
        "DB_USER": "dnsscience",
        "DB_PASS": "it's a \\ secret",
    })
    assert settings.conninfo() == (
        "host='127.0.0.1' port=6432 dbname='dnsscience' user='dnsscience' "
        "password='it\\'s a \\\\ secret'"
    )


def test_db_pass_preferred_over_db_password():
    settings = Settings.from_environment(env={"DB_HOST": "h", "DB_PASS": "a", "DB_PASSWORD": "b"})
    assert settings.db_password == "a"
    fallback = Settings.from_environment(env={"DB_HOST": "h", "DB_PASSWORD": "b"})
    assert fallback.db_password == "b"


def test_env_file_syntax(tmp_path):
    path = tmp_path / "dnsscience.env"
    path.write_text(
        "# comment\n"
        "\n"
        "export DB_HOST=127.0.0.1\n"
        "DB_USER = 'single # quoted'\n"
        'DB_PASS="dq \\"x\\" \\\\ y"\n'
        "DNSSCIENCE_BATCH_SIZE=50 # inline comment\n"
        "EMPTY=\n"
    )
    values = parse_env_file(path)
    assert values == {
        "DB_HOST": "127.0.0.1",
        "DB_USER": "single # quoted",
        "DB_PASS": 'dq "x" \\ y',
        "DNSSCIENCE_BATCH_SIZE": "50",
        "EMPTY": "",
    }


def test_environment_wins_over_env_file(tmp_path):
    path = tmp_path / "dnsscience.env"
    path.write_text("DNSSCIENCE_BATCH_SIZE=50\nDNSSCIENCE_CONCURRENCY=20\n")
    settings = Settings.from_environment(
        env={"DNSSCIENCE_BATCH_SIZE": "70"}, env_file=path
    )
    assert settings.batch_size == 70
    assert settings.concurrency == 20
    assert settings.env_file == str(path)


def test_env_file_from_variable(tmp_path):
    path = tmp_path / "dnsscience.env"
    path.write_text("DNSSCIENCE_RESCAN_DAYS=3\n")
    settings = Settings.from_environment(env={"DNSSCIENCE_ENV_FILE": str(path)})
    assert settings.rescan_days == 3


def test_missing_env_file_raises(tmp_path):
    with pytest.raises(ConfigurationError, match="cannot read the env file"):
        Settings.from_environment(env={}, env_file=tmp_path / "absent.env")


def test_malformed_env_line_names_line_not_value(tmp_path):
    path = tmp_path / "bad.env"
    path.write_text("DB_HOST=x\nthis line has the secret hunter2\n")
    with pytest.raises(ConfigurationError, match="line 2") as raised:
        parse_env_file(path)
    assert "hunter2" not in str(raised.value)


def test_unterminated_quote_raises(tmp_path):
    path = tmp_path / "bad.env"
    path.write_text("DB_PASS='hunter2\n")
    with pytest.raises(ConfigurationError, match="closing quote") as raised:
        parse_env_file(path)
    assert "hunter2" not in str(raised.value)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DNSSCIENCE_CONCURRENCY", "0"),
        ("DNSSCIENCE_CONCURRENCY", "many"),
        ("DNSSCIENCE_BATCH_SIZE", "-5"),
        ("DNSSCIENCE_RESCAN_DAYS", "1.5"),
        ("DNSSCIENCE_QPS", "-1"),
        ("DNSSCIENCE_QPS", "nan"),
        ("DNSSCIENCE_LEASE_SECONDS", "0"),
        ("DNSSCIENCE_METRICS_PORT", "70000"),
        ("SSL_SCANNER_WORKERS", "x"),
        ("DNSSCIENCE_TLS_CONNECTIONS", "-1"),
        ("DB_PORT", "postgres"),
    ],
)
def test_invalid_number_names_variable_and_value(name, value):
    with pytest.raises(ConfigurationError) as raised:
        Settings.from_environment(env={name: value})
    assert name in str(raised.value)
    assert repr(value) in str(raised.value)
    assert "expected" in str(raised.value)


def test_nameservers_parsed_and_normalized():
    settings = Settings.from_environment(
        env={"DNSSCIENCE_NAMESERVERS": "127.0.0.1:5300, ::1 ,[::1]:53,127.0.0.2"}
    )
    assert settings.nameservers == ("127.0.0.1:5300", "[::1]:53", "[::1]:53", "127.0.0.2:53")


@pytest.mark.parametrize("value", ["localhost:53", "127.0.0.1:0", "[::1", "1.2.3.4:x"])
def test_invalid_nameserver_raises(value):
    with pytest.raises(ConfigurationError, match="DNSSCIENCE_NAMESERVERS") as raised:
        Settings.from_environment(env={"DNSSCIENCE_NAMESERVERS": value})
    assert "expected an IP address" in str(raised.value)


def test_tls_ports_and_selectors():
    settings = Settings.from_environment(
        env={"DNSSCIENCE_TLS_PORTS": "443, 8443", "DNSSCIENCE_DKIM_SELECTORS": "google,s1.x"}
    )
    assert settings.tls_ports == (443, 8443)
    assert settings.dkim_selectors == ("google", "s1.x")


def test_invalid_tls_port_raises():
    with pytest.raises(ConfigurationError, match="DNSSCIENCE_TLS_PORTS"):
        Settings.from_environment(env={"DNSSCIENCE_TLS_PORTS": "443,0"})


def test_invalid_dkim_selector_raises():
    with pytest.raises(ConfigurationError, match="DKIM selector 'bad selector'"):
        Settings.from_environment(env={"DNSSCIENCE_DKIM_SELECTORS": "ok,bad selector"})


def test_missing_ca_file_raises(tmp_path):
    with pytest.raises(ConfigurationError, match="DNSSCIENCE_CA_FILE"):
        Settings.from_environment(env={"DNSSCIENCE_CA_FILE": str(tmp_path / "none.pem")})


def test_unsupported_url_scheme_hides_url():
    with pytest.raises(ConfigurationError, match="'mysql'") as raised:
        Settings.from_environment(env={"DATABASE_URL": "mysql://u:hunter2@h/db"})
    assert "hunter2" not in str(raised.value)


@pytest.mark.parametrize(
    "env",
    [
        {"DATABASE_URL": "postgresql://app:hunter2@127.0.0.1:6432/dnsscience"},
        {"DATABASE_URL": "postgresql://app@127.0.0.1/dnsscience?password=hunter2&sslmode=require"},
        {"DATABASE_URL": "host=127.0.0.1 password=hunter2 dbname=x"},
        {"DATABASE_URL": "host=127.0.0.1 password='hun ter2' dbname=x"},
        {"DB_HOST": "127.0.0.1", "DB_PASS": "hunter2"},
        {"DB_HOST": "127.0.0.1", "DB_PASSWORD": "hunter2"},
    ],
)
def test_redacted_never_contains_password(env):
    settings = Settings.from_environment(env=env)
    assert "hunter2" not in settings.redacted()
    assert "ter2" not in settings.redacted()
    assert "hunter2" not in repr(settings)
    assert "***" in settings.redacted()


def test_redacted_keeps_host_and_user():
    settings = Settings.from_environment(
        env={"DATABASE_URL": "postgresql://app:hunter2@127.0.0.1:6432/dnsscience"}
    )
    assert "postgresql://app:***@127.0.0.1:6432/dnsscience" in settings.redacted()


def test_tls_connections_follow_workers_unless_set():
    assert Settings.from_environment(env={"SSL_SCANNER_WORKERS": "50"}).tls_connection_limit == 200
    explicit = Settings.from_environment(
        env={"SSL_SCANNER_WORKERS": "50", "DNSSCIENCE_TLS_CONNECTIONS": "7000"}
    )
    assert explicit.tls_connection_limit == 7000


def test_redacted_parts():
    settings = Settings.from_environment(env={})
    email = settings.redacted("email")
    tls = settings.redacted("tls")
    everything = settings.redacted()
    assert "dkim_selectors=" in email
    assert "ssl_scanner_workers=" not in email
    assert "tls_connections=2000" in tls
    assert "dkim_selectors=" not in tls
    assert "batch_size=" in email
    assert "batch_size=" in tls
    assert "ssl_scanner_workers=" in everything
    assert "qps=" in everything
    with pytest.raises(ValueError, match="dns"):
        settings.redacted("dns")
