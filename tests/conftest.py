"""pytest configuration: loads the fixture modules of the local test bed.

``fixtures_dns`` starts Knot DNS (and on request the responder and unbound),
``fixtures_postgres`` a PostgreSQL cluster and ``fixtures_tls`` the TLS servers,
all on loopback.
"""

pytest_plugins = ["fixtures_dns", "fixtures_postgres", "fixtures_tls"]
