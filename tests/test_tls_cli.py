"""Tests of the ``tls`` subcommand (dnsscience.cli_tls) against the TLS test bed."""

from __future__ import annotations

import argparse
import json

import pytest

from dnsscience.cli_tls import _split_target, add_tls_parser


def run(arguments: list[str], capsys) -> tuple[int, str]:
    parser = argparse.ArgumentParser(prog="dnsscience")
    add_tls_parser(parser.add_subparsers(dest="command", required=True))
    parsed = parser.parse_args(["tls", *arguments])
    status = parsed.handler(parsed)
    return status, capsys.readouterr().out


def test_tls_prints_certificate(tls_testbed, tls_nameserver, capsys):
    target = tls_testbed.target("valid.tls.test")
    status, output = run(
        [
            f"{target.name}:{target.port}",
            "--ca-file",
            str(tls_testbed.ca_file),
            "--nameserver",
            tls_nameserver,
        ],
        capsys,
    )
    assert status == 0
    assert f"valid.tls.test:{target.port} ({target.address})" in output
    assert "status:   valid" in output
    assert "issuer:   CN=dnsscience Test Intermediate CA" in output
    assert "trusted" in output


def test_tls_failure_exit_status(tls_testbed, tls_nameserver, capsys):
    refused = tls_testbed.target("refused.tls.test")
    valid = tls_testbed.target("valid.tls.test")
    status, output = run(
        [
            f"{refused.name}:{refused.port}",
            f"{valid.name}:{valid.port}",
            "--nameserver",
            tls_nameserver,
        ],
        capsys,
    )
    assert status == 1
    assert "error:    connect: connection_refused" in output
    assert "status:   untrusted" in output


def test_tls_json_and_starttls(tls_testbed, tls_nameserver, capsys):
    target = tls_testbed.target("smtp.tls.test")
    status, output = run(
        [
            target.address,
            "--port",
            str(target.port),
            "--sni",
            target.name,
            "--starttls",
            "smtp",
            "--ca-file",
            str(tls_testbed.ca_file),
            "--nameserver",
            tls_nameserver,
            "--json",
        ],
        capsys,
    )
    document = json.loads(output)
    assert status == 0
    assert document["status"] == "valid"
    assert document["starttls"] == "smtp"
    assert document["sni"] == "smtp.tls.test"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a.test", {"host": "a.test", "port": 443}),
        ("a.test:8443", {"host": "a.test", "port": 8443}),
        ("[::1]:993", {"host": "::1", "port": 993}),
        ("[::1]", {"host": "::1", "port": 443}),
        ("::1", {"host": "::1", "port": 443}),
    ],
)
def test_split_target(text, expected):
    assert _split_target(text, 443) == expected


def test_split_target_rejects_bad_port():
    with pytest.raises(ValueError, match="invalid port"):
        _split_target("a.test:https", 443)
