"""Settings of the dnsscience daemons and commands, read from the environment.

:meth:`Settings.from_environment` reads the variables below from the process
environment and, optionally, from an env file (``--env-file PATH`` or
``DNSSCIENCE_ENV_FILE``). Values in the env file fill only the variables that
the environment lacks, so an exported variable always wins over the file.

Database, first match wins:

1. ``DATABASE_URL``: a libpq URL (``postgresql://user:password@host:port/db``)
   or key=value connection string, used as given.
2. ``DB_HOST``, ``DB_PORT`` (5432), ``DB_NAME`` (dnsscience), ``DB_USER``,
   ``DB_PASS`` or else ``DB_PASSWORD``: the original platform's variables, used
   when ``DB_HOST``, ``DB_USER`` or a password is set.
3. Otherwise an empty connection string, so libpq reads its own variables
   (``PGHOST``, ``PGPORT``, ``PGUSER``, ``PGPASSWORD``, ``PGDATABASE``, ...).

Every other setting and its default is listed in :data:`VARIABLES`. Invalid
values raise :class:`~dnsscience.errors.ConfigurationError` naming the variable,
the value and the expected form. Passwords never appear in messages or in
:meth:`Settings.redacted`.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from dnsscience.errors import ConfigurationError

logger = logging.getLogger(__name__)

__all__ = ["VARIABLES", "Settings", "parse_env_file"]

#: Each setting's variable, default and meaning (for help texts and docs).
VARIABLES: dict[str, tuple[str, str]] = {
    "DNSSCIENCE_ENV_FILE": ("", "env file with KEY=VALUE lines that fill unset variables"),
    "DATABASE_URL": ("", "libpq URL or connection string of the database"),
    "DB_HOST": ("", "database host (original platform variable)"),
    "DB_PORT": ("5432", "database port"),
    "DB_NAME": ("dnsscience", "database name"),
    "DB_USER": ("", "database user"),
    "DB_PASS": ("", "database password (DB_PASSWORD is read when DB_PASS is unset)"),
    "DNSSCIENCE_NAMESERVERS": ("", "comma-separated nameservers, ip:port or [ipv6]:port"),
    "DNSSCIENCE_CONCURRENCY": ("500", "domains checked at the same time"),
    "DNSSCIENCE_BATCH_SIZE": ("1000", "domains claimed per batch"),
    "DNSSCIENCE_RESCAN_DAYS": ("7", "days after which a checked domain is due again"),
    "DNSSCIENCE_QPS": ("0", "maximum DNS queries per second, 0 for no limit"),
    "DNSSCIENCE_DKIM_SELECTORS": ("", "comma-separated DKIM selectors to probe"),
    "DNSSCIENCE_LEASE_SECONDS": ("600", "seconds a claimed domain stays reserved"),
    "DNSSCIENCE_ATTEMPT_RETENTION_DAYS": ("30", "days email check attempts are kept"),
    "DNSSCIENCE_METRICS_PORT": ("0", "port of the metrics endpoint on 127.0.0.1, 0 for none"),
    "SSL_SCANNER_WORKERS": ("500", "TLS handshakes at the same time"),
    "DNSSCIENCE_TLS_CONNECTIONS": (
        "0",
        "TLS targets in progress at the same time, TCP connects included; "
        "0 for 4 x SSL_SCANNER_WORKERS",
    ),
    "DNSSCIENCE_TLS_PORTS": ("443", "comma-separated TCP ports to scan for certificates"),
    "DNSSCIENCE_CA_FILE": ("", "PEM file of trusted CA certificates for verification"),
}

_ENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_DKIM_SELECTOR = re.compile(r"^[A-Za-z0-9_]([A-Za-z0-9_-]{0,62})(\.[A-Za-z0-9_][A-Za-z0-9_-]{0,62})*$")
_DATABASE_VARIABLES = ("DB_HOST", "DB_PORT", "DB_NAME", "DB_USER", "DB_PASS", "DB_PASSWORD")
_URL_SCHEMES = ("postgresql", "postgres")


# -- env file ----------------------------------------------------------------


def parse_env_file(path: Path | str) -> dict[str, str]:
    """Read KEY=VALUE lines from ``path`` and return them as a dict.

    Blank lines and lines starting with ``#`` are skipped, and an ``export ``
    prefix is allowed. A value may be double-quoted (backslash escapes ``\\"``,
    ``\\\\``, ``\\n``), single-quoted (taken literally) or bare, where `` #``
    starts a comment. Raises ConfigurationError for a missing file or a
    malformed line; the message names the line number but never its value.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigurationError(
            f"cannot read the env file {str(path)!r}: {error.strerror}. Check "
            "--env-file or DNSSCIENCE_ENV_FILE"
        ) from None

    values: dict[str, str] = {}
    for number, raw_line in enumerate(text.splitlines(), start=1):
        line = raw_line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export "):].lstrip()
        key, separator, rest = line.partition("=")
        key = key.strip()
        if not separator or not _ENV_KEY.match(key):
            raise ConfigurationError(
                f"invalid line {number} in the env file {str(path)!r}: "
                "expected KEY=VALUE with a letter or underscore starting KEY"
            )
        values[key] = _parse_env_value(rest.strip(), path, number)
    return values


def _parse_env_value(text: str, path: Path, number: int) -> str:
    if text[:1] == "'":
        end = text.find("'", 1)
        if end < 0:
            raise _unterminated(path, number)
        return text[1:end]
    if text[:1] == '"':
        out: list[str] = []
        escapes = {"n": "\n", "t": "\t", '"': '"', "\\": "\\", "$": "$"}
        index = 1
        while index < len(text):
            char = text[index]
            if char == "\\" and index + 1 < len(text):
                following = text[index + 1]
                out.append(escapes.get(following, "\\" + following))
                index += 2
                continue
            if char == '"':
                return "".join(out)
            out.append(char)
            index += 1
        raise _unterminated(path, number)
    comment = re.search(r"\s#", text)
    return (text[: comment.start()] if comment else text).strip()


def _unterminated(path: Path, number: int) -> ConfigurationError:
    return ConfigurationError(
        f"invalid line {number} in the env file {str(path)!r}: the quoted value has no "
        "closing quote"
    )


# -- value parsers -----------------------------------------------------------


def _integer(env: Mapping[str, str], name: str, minimum: int, maximum: int | None = None) -> int:
    text = env.get(name, "").strip() or VARIABLES[name][0]
    try:
        value = int(text, 10)
    except ValueError:
        value = None
    if value is None or value < minimum or (maximum is not None and value > maximum):
        upper = f" and at most {maximum}" if maximum is not None else ""
        raise ConfigurationError(
            f"invalid {name}={text!r}: expected a whole number of at least {minimum}{upper}"
        )
    return value


def _number(env: Mapping[str, str], name: str, minimum: float) -> float:
    text = env.get(name, "").strip() or VARIABLES[name][0]
    try:
        value = float(text)
    except ValueError:
        value = None
    if value is None or not value >= minimum or value == float("inf"):
        raise ConfigurationError(
            f"invalid {name}={text!r}: expected a finite number of at least {minimum:g}"
        )
    return value


def _list(env: Mapping[str, str], name: str) -> list[str]:
    text = env.get(name, "").strip() or VARIABLES[name][0]
    return [item.strip() for item in text.split(",") if item.strip()]


def _nameserver(name: str, item: str) -> str:
    """Return ``item`` as ``ip:port`` or ``[ipv6]:port`` (port 53 when omitted)."""
    host, port = item, "53"
    if item.startswith("["):
        close = item.find("]")
        if close < 0 or (close + 1 < len(item) and item[close + 1] != ":"):
            host = ""
        else:
            host = item[1:close]
            port = item[close + 2:] if close + 1 < len(item) else "53"
    elif item.count(":") == 1:
        host, port = item.split(":")
    try:
        address = ipaddress.ip_address(host)
        port_number = int(port, 10)
        if not 1 <= port_number <= 65535:
            raise ValueError(port)
    except ValueError:
        raise ConfigurationError(
            f"invalid nameserver {item!r} in {name}: expected an IP address with an "
            "optional port, such as 127.0.0.1:53 or [::1]:53, separated by commas"
        ) from None
    if address.version == 6:
        return f"[{address}]:{port_number}"
    return f"{address}:{port_number}"


def _ports(env: Mapping[str, str], name: str) -> tuple[int, ...]:
    ports = []
    for item in _list(env, name):
        try:
            port = int(item, 10)
        except ValueError:
            port = 0
        if not 1 <= port <= 65535:
            raise ConfigurationError(
                f"invalid port {item!r} in {name}: expected TCP ports from 1 to 65535 "
                "separated by commas, such as 443,8443"
            )
        ports.append(port)
    if not ports:
        raise ConfigurationError(f"invalid {name}: expected at least one TCP port, such as 443")
    return tuple(ports)


def _dkim_selectors(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    selectors = _list(env, name)
    for selector in selectors:
        if not _DKIM_SELECTOR.match(selector):
            raise ConfigurationError(
                f"invalid DKIM selector {selector!r} in {name}: expected DNS labels of "
                "letters, digits, '-' and '_' separated by dots, the selectors separated "
                "by commas"
            )
    return tuple(selectors)


def _ca_file(env: Mapping[str, str], name: str) -> str | None:
    text = env.get(name, "").strip()
    if not text:
        return None
    if not Path(text).is_file():
        raise ConfigurationError(
            f"invalid {name}={text!r}: the file does not exist; expected a PEM file of "
            "CA certificates"
        )
    return text


def _quote_conninfo(value: str) -> str:
    # libpq key=value syntax: single quotes, with backslash escaping ' and \.
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _redact_url(url: str) -> str:
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hosts = netloc.rpartition("@")
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}:***@{hosts}" if ":" in userinfo else f"{user}@{hosts}"
    query = [
        (key, "***" if key == "password" else value)
        for key, value in parse_qsl(parts.query, keep_blank_values=True)
    ]
    return urlunsplit((parts.scheme, netloc, parts.path, urlencode(query, safe="*"), ""))


def _redact_conninfo(conninfo: str) -> str:
    """Return ``conninfo`` (a URL or key=value string) with its password hidden."""
    if conninfo.startswith(tuple(f"{scheme}://" for scheme in _URL_SCHEMES)):
        return _redact_url(conninfo)
    return re.sub(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", r"\1***", conninfo)


# -- settings ----------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    """Validated settings of one dnsscience process; see the module docstring."""

    database_url: str | None = None
    db_host: str | None = None
    db_port: int = 5432
    db_name: str = "dnsscience"
    db_user: str | None = None
    db_password: str | None = field(default=None, repr=False)
    nameservers: tuple[str, ...] = ()
    concurrency: int = 500
    batch_size: int = 1000
    rescan_days: int = 7
    qps: float = 0.0
    dkim_selectors: tuple[str, ...] = ()
    lease_seconds: int = 600
    attempt_retention_days: int = 30
    metrics_port: int = 0
    ssl_scanner_workers: int = 500
    tls_connections: int = 0
    tls_ports: tuple[int, ...] = (443,)
    ca_file: str | None = None
    env_file: str | None = None

    def __repr__(self) -> str:
        return f"Settings({self.redacted()})"

    @classmethod
    def from_environment(
        cls,
        env: Mapping[str, str] | None = None,
        env_file: Path | str | None = None,
    ) -> Settings:
        """Read and validate the settings.

        ``env`` defaults to ``os.environ``. The env file is ``env_file`` when
        given, else ``DNSSCIENCE_ENV_FILE`` from ``env``, else none. Its values
        fill only variables that ``env`` lacks or has empty, so the environment
        takes precedence over the file. Raises ConfigurationError for a missing
        file or an invalid value.
        """
        environment = dict(os.environ if env is None else env)
        file_name = str(env_file) if env_file else environment.get("DNSSCIENCE_ENV_FILE") or None
        if file_name:
            for key, value in parse_env_file(file_name).items():
                if not environment.get(key):
                    environment[key] = value
        return cls._from_mapping(environment, file_name)

    @classmethod
    def _from_mapping(cls, env: Mapping[str, str], env_file: str | None) -> Settings:
        database_url = env.get("DATABASE_URL", "").strip() or None
        if database_url and "://" in database_url:
            scheme = database_url.split("://", 1)[0]
            if scheme not in _URL_SCHEMES:
                raise ConfigurationError(
                    f"invalid DATABASE_URL: the scheme {scheme!r} is not supported; expected "
                    "postgresql://user:password@host:port/database"
                )
        password = env.get("DB_PASS") or env.get("DB_PASSWORD") or None
        return cls(
            database_url=database_url,
            db_host=env.get("DB_HOST", "").strip() or None,
            db_port=_integer(env, "DB_PORT", 1, 65535),
            db_name=env.get("DB_NAME", "").strip() or VARIABLES["DB_NAME"][0],
            db_user=env.get("DB_USER", "").strip() or None,
            db_password=password,
            nameservers=tuple(
                _nameserver("DNSSCIENCE_NAMESERVERS", item)
                for item in _list(env, "DNSSCIENCE_NAMESERVERS")
            ),
            concurrency=_integer(env, "DNSSCIENCE_CONCURRENCY", 1),
            batch_size=_integer(env, "DNSSCIENCE_BATCH_SIZE", 1),
            rescan_days=_integer(env, "DNSSCIENCE_RESCAN_DAYS", 1),
            qps=_number(env, "DNSSCIENCE_QPS", 0.0),
            dkim_selectors=_dkim_selectors(env, "DNSSCIENCE_DKIM_SELECTORS"),
            lease_seconds=_integer(env, "DNSSCIENCE_LEASE_SECONDS", 1),
            attempt_retention_days=_integer(env, "DNSSCIENCE_ATTEMPT_RETENTION_DAYS", 1),
            metrics_port=_integer(env, "DNSSCIENCE_METRICS_PORT", 0, 65535),
            ssl_scanner_workers=_integer(env, "SSL_SCANNER_WORKERS", 1),
            tls_connections=_integer(env, "DNSSCIENCE_TLS_CONNECTIONS", 0),
            tls_ports=_ports(env, "DNSSCIENCE_TLS_PORTS"),
            ca_file=_ca_file(env, "DNSSCIENCE_CA_FILE"),
            env_file=env_file,
        )

    @property
    def tls_connection_limit(self) -> int:
        """TLS targets in progress at once: DNSSCIENCE_TLS_CONNECTIONS, or 4 x the workers.

        A target waiting for its TCP connect costs a socket and no CPU, so more of them
        than handshakes run at once. Targets that never respond then do not delay the
        ones that do.
        """
        return self.tls_connections or 4 * self.ssl_scanner_workers

    @property
    def database_source(self) -> str:
        """Which variables the connection string comes from: DATABASE_URL, DB_* or PG*."""
        if self.database_url:
            return "DATABASE_URL"
        if self._uses_db_variables():
            return "DB_*"
        return "PG*"

    def _uses_db_variables(self) -> bool:
        return bool(self.db_host or self.db_user or self.db_password)

    def conninfo(self) -> str:
        """Return the libpq connection string; empty means libpq's PG* variables."""
        if self.database_url:
            return self.database_url
        if not self._uses_db_variables():
            return ""
        parts = []
        if self.db_host:
            parts.append(f"host={_quote_conninfo(self.db_host)}")
        parts.append(f"port={self.db_port}")
        parts.append(f"dbname={_quote_conninfo(self.db_name)}")
        if self.db_user:
            parts.append(f"user={_quote_conninfo(self.db_user)}")
        if self.db_password:
            parts.append(f"password={_quote_conninfo(self.db_password)}")
        return " ".join(parts)

    def redacted(self, part: str | None = None) -> str:
        """Return the settings as ``key=value`` text for logs, with no password.

        ``part`` "email" leaves out the TLS settings and "tls" the email-only ones
        (concurrency, qps, DKIM selectors); None lists every setting.
        """
        if part not in (None, "email", "tls"):
            raise ValueError(f"unknown settings part {part!r}; use 'email', 'tls' or None")
        if self.database_source == "PG*":
            database = "libpq PG* variables"
        else:
            database = _redact_conninfo(self.conninfo())
        items = {
            "database": database,
            "nameservers": ",".join(self.nameservers) or "(system resolver)",
            "concurrency": self.concurrency,
            "batch_size": self.batch_size,
            "rescan_days": self.rescan_days,
            "qps": f"{self.qps:g}" if self.qps else "unlimited",
            "dkim_selectors": ",".join(self.dkim_selectors) or "(default list)",
            "lease_seconds": self.lease_seconds,
            "attempt_retention_days": self.attempt_retention_days,
            "metrics_port": self.metrics_port or "off",
            "ssl_scanner_workers": self.ssl_scanner_workers,
            "tls_connections": self.tls_connection_limit,
            "tls_ports": ",".join(str(port) for port in self.tls_ports),
            "ca_file": self.ca_file or "(system default)",
            "env_file": self.env_file or "(none)",
        }
        left_out = {
            "email": ("ssl_scanner_workers", "tls_connections", "tls_ports", "ca_file"),
            "tls": ("concurrency", "qps", "dkim_selectors"),
        }.get(part, ())
        return ", ".join(f"{key}={value}" for key, value in items.items() if key not in left_out)
