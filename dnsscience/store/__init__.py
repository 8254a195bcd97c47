"""PostgreSQL storage of dnsscience: connection, migrations, schema check, stores.

- :func:`connect` opens a :class:`Connection` (``dnsscience._core.Connection``),
  which sends only unnamed statements and so works behind PgBouncer in
  transaction mode.
- :mod:`dnsscience.store.migrations`: ``migrate`` and ``status``.
- :mod:`dnsscience.store.schema`: ``check`` lists what the database lacks.
- :mod:`dnsscience.store.email`: claim due domains and store email results.
- :mod:`dnsscience.store.results`: read stored email results back.
- :func:`email_results` and :func:`tls_results`: stored results as records, or as
  a pandas DataFrame with ``as_dataframe=True``.
"""

from dnsscience._core import Connection
from dnsscience.store.records import email_results, tls_results

__all__ = ["Connection", "connect", "email_results", "tls_results"]


def connect(conninfo: str) -> Connection:
    """Open a connection with a libpq connection string or URL.

    An empty string makes libpq use its PG* environment variables. Raises
    ConfigurationError for a malformed string and DatabaseError when the server
    cannot be reached.
    """
    return Connection(conninfo)
