"""pytest fixtures for the TLS test bed: nginx, a test CA and misbehaving servers.

``tls_testbed`` starts one :class:`~dnsscience.testbed.tls.TlsTestBed` per test
session, because generating its certificates takes several seconds. Tests only
read from it. ``tls_nameserver`` serves the bed's ``tls.test`` zone with Knot, so
probes can resolve the bed's names. ``tls_client_context`` returns an SSLContext that completes a
handshake with every bed certificate, trusted or not, like a prober does.
"""

from __future__ import annotations

import ssl
import warnings
from collections.abc import Iterator

import pytest

from dnsscience.testbed.tls import TlsTestBed


@pytest.fixture(scope="session")
def tls_testbed() -> Iterator[TlsTestBed]:
    """The started TLS test bed, shared by the whole session and stopped at its end."""
    with TlsTestBed() as bed:
        yield bed


@pytest.fixture(scope="session")
def tls_nameserver(tls_testbed: TlsTestBed, tmp_path_factory) -> Iterator[str]:
    """``127.0.0.1:PORT`` of a Knot server for the ``tls.test`` zone of the TLS test bed."""
    from dnsscience.testbed.knot import KnotServer

    workdir = tmp_path_factory.mktemp("tls-knot")
    zone_file = workdir / "tls.test.zone"
    zone_file.write_text(tls_testbed.zone_text())
    server = KnotServer({tls_testbed.zone: zone_file}, workdir)
    server.start()
    try:
        yield server.nameserver
    finally:
        server.stop()


def unverified_client_context() -> ssl.SSLContext:
    """Return a client context that accepts any certificate at OpenSSL security level 0."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.set_ciphers("ALL:@SECLEVEL=0")
    with warnings.catch_warnings():
        # Python deprecates TLS 1.0; the bed still serves it on purpose.
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = ssl.TLSVersion.TLSv1
    return context


@pytest.fixture
def tls_client_context() -> ssl.SSLContext:
    """A fresh unverified client context (see :func:`unverified_client_context`)."""
    return unverified_client_context()
