#!/usr/bin/env bash
# Builds the root filesystem of a local-fleet host: a bare Debian with systemd as PID 1,
# sshd and python3, much like a fresh cloud VM. The content hash of this file is part of
# the image tag, so any edit here rebuilds the cached image.
#
# usage: build-rootfs.sh SUITE DIR [MIRROR]
set -euo pipefail

suite=$1
root=$2
mirror=${3:-}

packages=(
  systemd systemd-sysv dbus
  openssh-server sudo
  python3 python3-apt
  iproute2 procps ca-certificates
)

# MIRROR is optional: without it debootstrap uses its own default Debian mirror.
debootstrap --variant=minbase --include="$(IFS=,; echo "${packages[*]}")" \
  "$suite" "$root" ${mirror:+"$mirror"}

# Every container must get its own machine id and SSH host keys at first boot,
# not share the ones made while building the image.
: > "$root/etc/machine-id"
rm -f "$root/var/lib/dbus/machine-id" "$root"/etc/ssh/ssh_host_*
mkdir -p "$root/etc/systemd/system/ssh.service.d"
cat > "$root/etc/systemd/system/ssh.service.d/host-keys.conf" <<'UNIT'
[Service]
ExecStartPre=
ExecStartPre=/usr/bin/ssh-keygen -A
ExecStartPre=/usr/sbin/sshd -t
UNIT

# Consoles, disk maintenance and kernel modules have no meaning in a container: they only
# fail or idle.
for unit in getty@tty1.service e2scrub_reap.service e2scrub_all.timer fstrim.timer \
    systemd-modules-load.service \
    systemd-pstore.service; do
  ln -sf /dev/null "$root/etc/systemd/system/$unit"
done

install -d -m 0700 "$root/root/.ssh"
rm -f "$root/etc/hostname"
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
# Package lists are dropped to keep the image small; dating the folder at the epoch makes any
# "is the cache fresh?" check (apt's cache_valid_time) fetch them anew, as on a stale VM.
touch -d @0 "$root/var/lib/apt/lists"
