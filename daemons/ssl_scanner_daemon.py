#!/usr/bin/env python3
"""ssl_scanner under its original name; the same program as ``dnsscience-ssl-scanner``."""

from dnsscience.daemons.ssl_scanner import main

if __name__ == "__main__":
    raise SystemExit(main())
