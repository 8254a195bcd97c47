#!/usr/bin/env python3
"""ssl_monitord under its original name; the same program as ``dnsscience-ssl-monitord``."""

from dnsscience.daemons.ssl_monitord import main

if __name__ == "__main__":
    raise SystemExit(main())
