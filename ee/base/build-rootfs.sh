#!/usr/bin/env bash
# Builds the root filesystem of the execution environment's base image: Debian with Python, pip
# and the system tools the collection's playbooks run on the controller (ssh, git), from
# Debian's packages only. scripts/ee.sh imports it as localhost/wsfleet-ee-base, tagged with
# the content hash of this file, so any edit here rebuilds the cached image.
#
# usage: build-rootfs.sh SUITE DIR [MIRROR]
set -euo pipefail

suite=$1
root=$2
mirror=${3:-}

packages=(
  python3 python3-pip python3-venv
  openssh-client git
  ca-certificates
)

# MIRROR is optional: without it debootstrap uses its own default Debian mirror.
debootstrap --variant=minbase --include="$(IFS=,; echo "${packages[*]}")" \
  "$suite" "$root" ${mirror:+"$mirror"}

: > "$root/etc/machine-id"
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
