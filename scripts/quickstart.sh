#!/usr/bin/env bash
# Brings up the local fleet (3 app hosts, 2 edge hosts, 1 ACME host running Pebble, 1 monitoring
# host), deploys the example app to it with site.yml (TLS at the edge, certificate from Pebble),
# and proves it: a WebSocket client gets its echo through every edge host over wss://.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/bootstrap.sh
export PATH="$PWD/.venv/bin:$PATH"
python3 fleet/localfleet.py up
ansible-playbook fleet/acme.yml
ansible-playbook site.yml
ansible-playbook playbooks/smoke_test.yml
