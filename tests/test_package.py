"""Tests of the package surface: version and exception hierarchy."""

import dnsscience


def test_version_is_set():
    assert dnsscience.__version__ == "0.1.0"


def test_invalid_argument_is_value_error():
    assert issubclass(dnsscience.InvalidArgumentError, ValueError)
    assert issubclass(dnsscience.InvalidArgumentError, dnsscience.DnsScienceError)


def test_schema_error_is_database_error():
    assert issubclass(dnsscience.SchemaError, dnsscience.DatabaseError)
