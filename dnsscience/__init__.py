"""Email security and TLS certificate measurement for very many domains.

The compiled core is the private module ``dnsscience._core``; use the functions
exported here instead.
"""

try:
    from dnsscience._core import __version__
except ModuleNotFoundError as error:  # pragma: no cover - depends on the working directory
    if error.name != "dnsscience._core":
        raise
    from pathlib import Path

    raise ImportError(
        f"the compiled module dnsscience._core is missing from {Path(__file__).parent}. "
        "Python probably imported the source folder of a checkout instead of the "
        "installed package: run from another directory (./dev setup installs the "
        "package into .venv)"
    ) from error
from dnsscience.email import check_email, check_email_many, normalize_domain
from dnsscience.errors import (
    ConfigurationError,
    DatabaseError,
    DnsScienceError,
    InvalidArgumentError,
    SchemaError,
)
from dnsscience.results import DkimKey, DmarcRecord, EmailResult, Finding, MxHost
from dnsscience.tls import TlsResult, scan_tls, scan_tls_many

__all__ = [
    "ConfigurationError",
    "DkimKey",
    "DmarcRecord",
    "EmailResult",
    "Finding",
    "MxHost",
    "TlsResult",
    "check_email",
    "check_email_many",
    "normalize_domain",
    "scan_tls",
    "scan_tls_many",
    "DatabaseError",
    "DnsScienceError",
    "InvalidArgumentError",
    "SchemaError",
    "__version__",
]
