"""Run the local test bed by hand until Ctrl-C or SIGTERM, printing its addresses.

    python -m dnsscience.testbed --domains 10000 --seed 1 --unbound --responder
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import time

from dnsscience.testbed import TestBed


def _parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m dnsscience.testbed",
        description="Start Knot DNS with generated zones (and optionally the responder, "
        "unbound, PostgreSQL and the TLS servers) on loopback until Ctrl-C.",
    )
    parser.add_argument("--domains", type=int, default=10_000, help="generated domains (default %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="generator seed (default %(default)s)")
    parser.add_argument("--delay-ms", type=float, default=0.0, help="responder delay per response, in milliseconds")
    parser.add_argument("--responder", action="store_true", help="start the purpose-built responder")
    parser.add_argument("--unbound", action="store_true", help="start unbound (and the responder)")
    parser.add_argument("--postgres", action="store_true", help="start a PostgreSQL cluster")
    parser.add_argument("--tls", action="store_true", help="start the TLS servers")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    arguments = _parse_arguments(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    bed = TestBed(
        domains=arguments.domains,
        seed=arguments.seed,
        delay_ms=arguments.delay_ms,
        responder=arguments.responder or arguments.delay_ms > 0,
        unbound=arguments.unbound,
        postgres=arguments.postgres,
        tls=arguments.tls,
    )
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    # A shell starts background jobs with SIGINT ignored; restore Ctrl-C and kill -INT.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    with bed:
        sys.stdout.write(f"Knot (authoritative):  {bed.nameserver}\n")
        if bed.nameserver_ipv6:
            sys.stdout.write(f"Knot over IPv6:        {bed.nameserver_ipv6}\n")
        if bed.responder_nameserver:
            sys.stdout.write(f"responder:             {bed.responder_nameserver}\n")
        if bed.unbound_nameserver:
            sys.stdout.write(f"unbound (recursive):   {bed.unbound_nameserver}\n")
        if bed.postgres is not None:
            sys.stdout.write(f"PostgreSQL:            {bed.postgres.dsn}\n")
        sys.stdout.write(f"manifest:              {bed.generated.manifest_path}\n")
        sys.stdout.write(f"domains:               {len(bed.domains)}\n")
        sys.stdout.write(f"export DNSSCIENCE_NAMESERVERS={bed.nameserver}\n")
        sys.stdout.write("Press Ctrl-C to stop.\n")
        sys.stdout.flush()
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
