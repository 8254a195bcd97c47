"""PostgreSQL storage of dnsscience: connection, migrations, schema check, stores.

- :func:`connect` opens a :class:`Connection` (``dnsscience._core.Connection``),
  which sends only unnamed statements and so works behind PgBouncer in
  transaction mode.
- :mod:`dnsscience.store.migrations`: ``migrate`` and ``status``.
- :mod:`dnsscience.store.schema`: ``check`` lists what the database lacks.
- :mod:`dnsscience.store.email`: claim due domains and store email results.
- :mod:`dnsscience.store.results`: read stored email results back.
"""

from dnsscience._core import Connection

__all__ = ["Connection", "connect"]


def connect(conninfo: str) -> Connection:
    """Open a connection with a libpq connection string or URL.

    An empty string makes libpq use its PG* environment variables. Raises
    ConfigurationError for a malformed string and DatabaseError when the server
    cannot be reached.
    """
    return Connection(conninfo)
