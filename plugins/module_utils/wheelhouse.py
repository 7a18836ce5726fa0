# -*- coding: utf-8 -*-
# Copyright: wsfleet.deploy maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure logic behind app_wheelhouse: pip tags for a target host, release ids, wheel names."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import os
import re

# The oldest glibc that manylinux_2_x tags describe (manylinux2014 == manylinux_2_17).
OLDEST_MANYLINUX_GLIBC_MINOR = 17

_WHEEL_NAME = re.compile(r"^(?P<name>[^-]+)-(?P<version>[^-]+)(-\d[^-]*)?-[^-]+-[^-]+-[^-]+\.whl$")


def target_key(target):
    """A short stable name for a host's Python ABI and platform, e.g. cp311-x86_64-glibc2.36."""
    return "cp%s-%s-glibc%s" % (
        target["python_version"].replace(".", ""),
        target["machine"],
        target["glibc_version"],
    )


def manylinux_platforms(machine, glibc_version):
    """Every manylinux platform tag a host with this glibc can load, newest first.

    pip expands only the legacy manylinux2014 alias to older tags, so a host's full set
    (manylinux_2_36 down to manylinux_2_17, plus legacy aliases) must be listed explicitly.
    """
    major, minor = (int(part) for part in glibc_version.split(".")[:2])
    if major != 2:
        raise ValueError("unsupported glibc version %r" % glibc_version)
    tags = [
        "manylinux_2_%d_%s" % (m, machine)
        for m in range(minor, OLDEST_MANYLINUX_GLIBC_MINOR - 1, -1)
    ]
    if minor >= OLDEST_MANYLINUX_GLIBC_MINOR:
        tags.append("manylinux2014_%s" % machine)
    return tags


def parse_wheel_name(filename):
    """(distribution, version) of a wheel file name, normalised as pip names them."""
    match = _WHEEL_NAME.match(os.path.basename(filename))
    if not match:
        raise ValueError("not a wheel file name: %r" % filename)
    return match.group("name"), match.group("version")


def file_sha256(path, chunk_size=1 << 20):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(chunk_size), b""):
            digest.update(chunk)
    return digest.hexdigest()


def release_id(version, wheel_digests):
    """One id for the same set of wheels, whatever order they were found in.

    Content-addressed so that redeploying the same source reuses the release already
    installed instead of making a new one: the version keeps it readable for people.
    """
    joined = "\n".join(sorted("%s %s" % (name, digest) for name, digest in wheel_digests.items()))
    content = hashlib.sha256(joined.encode("utf-8")).hexdigest()[:12]
    return "%s-%s" % (re.sub(r"[^A-Za-z0-9.+_]", "_", version), content)
