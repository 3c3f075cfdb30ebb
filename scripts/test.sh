#!/usr/bin/env bash
# Run the whole test suite on a fresh machine: installs what the tests need
# (the package with its test extras, Debian's chromium for the browser tests),
# then lint, type-check and test. Usage: bash scripts/test.sh [pytest args...]
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v chromium >/dev/null 2>&1; then
  echo "== installing Debian's chromium for the browser tests"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi
if ! command -v node >/dev/null 2>&1; then
  echo "== installing Node.js for the JavaScript verifier tests"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq nodejs >/dev/null
fi

if ! command -v npm >/dev/null 2>&1; then
  echo "== installing npm for the EVM node used by the reserves tests"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq npm >/dev/null
fi
echo "== npm ci (Foundry's anvil, a real EVM node, and solc for the test token)"
npm ci --no-audit --no-fund --loglevel=error

echo "== installing porsegregate with its test extras"
python3 -m pip install -q --disable-pip-version-check -e ".[test]"

echo "== a real Bitcoin node for the reserves tests (regtest; private install, cached)"
python3 -m tests.support.bitcoin_node install

echo "== ruff"
python3 -m ruff check src tests benchmarks
python3 -m ruff format --check src tests benchmarks
echo "== mypy (strict)"
python3 -m mypy
echo "== pytest (Python, JavaScript and browser tests)"
python3 -m pytest "$@"
