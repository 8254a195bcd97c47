"""Exceptions raised by dnsscience.

Every exception derives from :class:`DnsScienceError`. Measurement outcomes
(NXDOMAIN, a timeout, an expired certificate) are never exceptions: they are
fields of the returned results.
"""

from dnsscience._core import (
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
]
