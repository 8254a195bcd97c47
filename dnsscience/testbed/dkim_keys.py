"""Real DKIM public keys for the generated zones, made once with openssl and cached.

The generator needs a handful of genuine keys (RSA 1024, RSA 2048, Ed25519) so that
a checker which decodes ``p=`` sees real key material. Only public keys are kept.
The cache is ``$DNSSCIENCE_CACHE_DIR``, else ``$XDG_CACHE_HOME/dnsscience``, else
``~/.cache/dnsscience``; if it cannot be written, the keys are made again next time.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import shutil
import subprocess
from pathlib import Path

logger = logging.getLogger(__name__)

__all__ = ["DKIM_KEY_KINDS", "dkim_public_keys"]

# Kind -> (openssl genpkey arguments, DKIM k= tag).
DKIM_KEY_KINDS = {
    "rsa1024": (["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024"], "rsa"),
    "rsa2048": (["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"], "rsa"),
    "ed25519": (["-algorithm", "ED25519"], "ed25519"),
}
KEYS_PER_KIND = 2
CACHE_FILE_NAME = "dkim-public-keys.json"

_memory_cache: dict[str, list[str]] | None = None


def _cache_path() -> Path:
    explicit = os.environ.get("DNSSCIENCE_CACHE_DIR")
    if explicit:
        return Path(explicit) / CACHE_FILE_NAME
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "dnsscience" / CACHE_FILE_NAME


def _make_public_key(kind: str) -> str:
    """Return the base64 ``p=`` value of a new key of ``kind``.

    RSA keys are the DER SubjectPublicKeyInfo (RFC 6376 section 3.6.1). Ed25519
    keys are the bare 32-byte public key (RFC 8463 section 4.2), which is the end
    of the 44-byte SubjectPublicKeyInfo.
    """
    openssl = shutil.which("openssl")
    if openssl is None:
        raise FileNotFoundError(
            "openssl was not found on PATH; install the Debian package openssl "
            "to generate DKIM test keys"
        )
    genpkey_arguments, _ = DKIM_KEY_KINDS[kind]
    private_pem = subprocess.run(
        [openssl, "genpkey", *genpkey_arguments],
        check=True,
        capture_output=True,
    ).stdout
    public_der = subprocess.run(
        [openssl, "pkey", "-pubout", "-outform", "DER"],
        input=private_pem,
        check=True,
        capture_output=True,
    ).stdout
    if kind == "ed25519":
        public_der = public_der[-32:]
    return base64.b64encode(public_der).decode("ascii")


def _valid_cache(data: object) -> bool:
    return isinstance(data, dict) and all(
        isinstance(data.get(kind), list) and len(data[kind]) >= KEYS_PER_KIND
        for kind in DKIM_KEY_KINDS
    )


def dkim_public_keys() -> dict[str, list[str]]:
    """Return kind -> list of base64 public keys, generating and caching them if needed."""
    global _memory_cache
    if _memory_cache is not None:
        return _memory_cache
    path = _cache_path()
    try:
        cached = json.loads(path.read_text())
    except (OSError, ValueError):
        cached = None
    if _valid_cache(cached):
        _memory_cache = cached
        return cached
    logger.info("generating %d DKIM test keys of each kind with openssl", KEYS_PER_KIND)
    keys = {
        kind: [_make_public_key(kind) for _ in range(KEYS_PER_KIND)] for kind in DKIM_KEY_KINDS
    }
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(keys, indent=1))
    except OSError as error:
        logger.warning("could not cache DKIM test keys in %s: %s", path, error)
    _memory_cache = keys
    return keys
