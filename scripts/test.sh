#!/usr/bin/env bash
# The whole test suite: linters, unit and app tests, then molecule on a fleet of real hosts.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/bootstrap.sh
export PATH="$PWD/.venv/bin:$PATH"

# Each step says how long the suite has run, so a slow CI log shows where the time went.
step() { printf '\n==> [%dm%02ds] %s\n' $((SECONDS / 60)) $((SECONDS % 60)) "$*"; }

# Building images and starting hosts waits on the network and the disks more than on the CPU:
# it runs in the background, beside the linters and the unit tests, each job into its own log.
# Molecule remembers a fleet it created in its state directory. Keep that state in the project
# and start from none: a stale "created" from an aborted run would skip creating the hosts.
export MOLECULE_EPHEMERAL_DIRECTORY="$PWD/.fleet/molecule-state"
rm -rf "$MOLECULE_EPHEMERAL_DIRECTORY"
python fleet/localfleet.py down --name wsfleet-molecule --inventory "$MOLECULE_EPHEMERAL_DIRECTORY/fleet.yml"
logs=.fleet/suite-logs
mkdir -p "$logs"
background() {
  local name=$1
  shift
  "$@" >"$logs/$name.log" 2>&1 &
  jobs_started+=("$name:$!")
}
# Wait for every background job; print the log of each, and fail if one failed.
wait_for_background() {
  local job name failed=0
  for job in "${jobs_started[@]}"; do
    name=${job%%:*}
    if wait "${job#*:}"; then
      echo "--- $name: done"
    else
      echo "--- $name: FAILED, its log:"
      cat "$logs/$name.log"
      failed=1
    fi
  done
  return $failed
}
jobs_started=()
# A step that fails ends the suite: the background jobs end with it.
trap 'kill $(jobs -pr) 2>/dev/null || true' EXIT
step "started in the background: the execution environment image (ansible-builder), and the shared fleet's hosts (molecule create)"
background execution-environment python ee/build.py
background fleet molecule create

step "ruff"
ruff check .
ruff format --check .

step "ansible-lint (production profile)"
ansible-lint --profile production

step "ansible-test sanity"
scripts/sanity.sh

step "galaxy-importer on the built collection"
scripts/galaxy_importer.sh

step "pytest: plugin unit tests, bad input at every door, the example app, the benchmark"
pytest tests/unit tests/inputs tests/app tests/bench

step "waiting for the background jobs (their logs in $logs)"
wait_for_background

step "molecule: every scenario on the shared fleet (molecule/rolling runs from the image)"
molecule test --all
step "done"
