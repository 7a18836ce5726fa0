#!/usr/bin/env bash
# The whole test suite: linters, unit and app tests, then molecule on a fleet of real hosts.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/bootstrap.sh
export PATH="$PWD/.venv/bin:$PATH"

# Each step says how long the suite has run, so a slow CI log shows where the time went.
step() { printf '\n==> [%dm%02ds] %s\n' $((SECONDS / 60)) $((SECONDS % 60)) "$*"; }

step "ruff"
ruff check .
ruff format --check .

step "ansible-lint (production profile)"
ansible-lint --profile production

step "ansible-test sanity"
scripts/sanity.sh

step "galaxy-importer on the built collection"
scripts/galaxy_importer.sh

step "execution environment: the image, built with ansible-builder (molecule/rolling runs from it)"
scripts/ee.sh

step "pytest: plugin unit tests, bad input at every door, the example app, the benchmark"
pytest tests/unit tests/inputs tests/app tests/bench

step "molecule: every scenario on one shared fleet"
# Molecule remembers a fleet it created in its state directory. Keep that state in the project
# and start from none: a stale "created" from an aborted run would skip creating the hosts.
export MOLECULE_EPHEMERAL_DIRECTORY="$PWD/.fleet/molecule-state"
rm -rf "$MOLECULE_EPHEMERAL_DIRECTORY"
python fleet/localfleet.py down --name wsfleet-molecule --inventory "$MOLECULE_EPHEMERAL_DIRECTORY/fleet.yml"
molecule test --all
step "done"
