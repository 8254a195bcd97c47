"""Email security and TLS certificate measurement for very many domains.

The compiled core is the private module ``dnsscience._core``; use the functions
exported here instead.
"""

from dnsscience._core import __version__
from dnsscience.errors import (
    ConfigurationError,
    DatabaseError,
    DnsScienceError,
    InvalidArgumentError,
    SchemaError,
)

__all__ = [
    "ConfigurationError",
    "DatabaseError",
    "DnsScienceError",
    "InvalidArgumentError",
    "SchemaError",
    "__version__",
]
