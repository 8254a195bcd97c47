#!/usr/bin/env bash
# Install the Debian packages that dnsscience needs to build, test and run its
# local test bed. Installs only what is missing; needs root (or sudo).
set -euo pipefail

PACKAGES=(
  # build
  g++ cmake pkg-config make
  libc-ares-dev libpqxx-dev libssl-dev nlohmann-json3-dev libidn2-dev libpsl-dev
  libgtest-dev libgmock-dev
  python3-venv
  # local test bed: authoritative DNS, recursive resolver, TLS servers, PostgreSQL
  knot knot-dnsutils unbound nginx-light openssl
  postgresql postgresql-contrib
  # benchmarks
  dnsperf
  # the dashboard test renders the page in a headless browser
  chromium
)

missing=()
for package in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$package")
  fi
done

if ((${#missing[@]} == 0)); then
  exit 0
fi

SUDO=""
if [[ "$(id -u)" != 0 ]]; then
  SUDO="sudo"
fi

echo "==> installing Debian packages: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

# The Debian packages enable and start system-wide services where systemd runs;
# the test bed starts its own instances on loopback and needs none of them.
for service in knot unbound nginx postgresql; do
  $SUDO systemctl disable --now "$service" >/dev/null 2>&1 || true
done
