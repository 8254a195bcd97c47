#!/usr/bin/env python3
"""emaild under its original name; the same program as the ``dnsscience-emaild`` command."""

from dnsscience.daemons.emaild import main

if __name__ == "__main__":
    raise SystemExit(main())
