#!/usr/bin/env bash
# Installs what the controller needs, idempotently: Debian packages for the local fleet and a
# virtualenv (.venv) with ansible-core, molecule, testinfra and the linters. Needs root.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

say() { echo "bootstrap: $*"; }
[ "$(id -u)" -eq 0 ] || { say "run as root: it installs Debian packages (podman, debootstrap, ...)"; exit 1; }
command -v apt-get >/dev/null || { say "needs a Debian machine (apt-get not found)"; exit 1; }

# iptables: netavark sets up the fleet network with it. runc: crun cannot start containers on
# hosts with cgroups v1/v2 hybrids. pebble: the test ACME server.
packages=(podman runc debootstrap netavark aardvark-dns iptables python3 python3-venv
          openssh-client ca-certificates)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
    || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# ansible-navigator refuses to start containers without a POSIX message queue folder, which
# some minimal machines lack.
[ -d /dev/mqueue ] || mkdir -p /dev/mqueue

# The virtualenv is rebuilt only when requirements-dev.txt changes.
stamp=.venv/.requirements.sha256
wanted=$(sha256sum requirements-dev.txt | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
  say "creating .venv with $(python3 --version)"
  python3 -m venv .venv
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -r requirements-dev.txt
  echo "$wanted" > "$stamp"
fi

# This checkout is the collection wsfleet.deploy: ansible.cfg finds it under .collections.
mkdir -p .collections/ansible_collections/wsfleet
ln -sfn ../../.. .collections/ansible_collections/wsfleet/deploy
say "ready"
