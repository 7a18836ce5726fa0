#!/usr/bin/env bash
# Builds the collection artifact and checks it with galaxy-importer, as Galaxy does on upload.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export PATH="$PWD/.venv/bin:$PATH"

build=$(mktemp -d)
trap 'rm -rf "$build"' EXIT
ansible-galaxy collection build --output-path "$build"
config="$PWD/scripts/galaxy-importer.cfg"
# It writes importer_result.json where it runs: there, not in the checkout.
cd "$build"
GALAXY_IMPORTER_CONFIG="$config" python3 -m galaxy_importer.main wsfleet-deploy-*.tar.gz
