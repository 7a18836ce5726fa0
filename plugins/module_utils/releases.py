# -*- coding: utf-8 -*-
# Copyright: wsfleet.deploy maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Release directories on a host: reading them in install order, and choosing what to prune."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import tempfile
import time

RECORD = "release.json"


def read_release(releases_dir, release_id):
    """What a release directory says of itself; incomplete installs have no record."""
    path = os.path.join(releases_dir, release_id, RECORD)
    try:
        with open(path) as handle:
            record = json.load(handle)
    except (IOError, OSError, ValueError):
        return {"id": release_id, "complete": False, "installed_at": ""}
    record.setdefault("id", release_id)
    record.setdefault("installed_at", "")
    record["complete"] = True
    return record


def list_releases(releases_dir):
    """Every release, oldest first by the install time recorded in it (never by mtime).

    Directory mtimes change with any touch, copy or restore; the recorded time does not.
    Incomplete installs sort first, so they are the first to go.
    """
    if not os.path.isdir(releases_dir):
        return []
    records = [
        read_release(releases_dir, name)
        for name in os.listdir(releases_dir)
        if os.path.isdir(os.path.join(releases_dir, name)) and not name.startswith(".")
    ]
    return sorted(records, key=lambda record: (record["installed_at"], record["id"]))


def releases_to_prune(releases, keep, protected):
    """Ids of the releases to remove so that at most `keep` remain, oldest first.

    Releases in `protected` (the live one and the one before it) are never removed, even
    when that leaves more than `keep`.
    """
    if keep < 1:
        raise ValueError("keep must be at least 1")
    surplus = len(releases) - keep
    prune = []
    for record in releases:
        if surplus <= 0:
            break
        if record["id"] in protected:
            continue
        prune.append(record["id"])
        surplus -= 1
    return prune


def link_target_id(link):
    """The release id a symlink such as <base>/current points at, or None."""
    if not os.path.islink(link):
        return None
    return os.path.basename(os.path.normpath(os.readlink(link)))


def write_json_whole(path, content, indent):
    """Write content as JSON (mode 0644) by renaming a finished file over path: a reader
    never sees half a report. The temporary name is unique, so parallel writers do not meet."""
    handle, temporary = tempfile.mkstemp(
        prefix=".%s." % os.path.basename(path), suffix=".tmp", dir=os.path.dirname(path) or "."
    )
    try:
        with os.fdopen(handle, "w") as stream:
            json.dump(content, stream, indent=indent, sort_keys=True)
            stream.write("\n")
        os.chmod(temporary, 0o644)
        os.rename(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def replace_symlink(link, target):
    """Point link at target by renaming a new symlink over it: atomic for readers."""
    temporary = "%s.tmp-%d-%d" % (link, os.getpid(), int(time.time() * 1000))
    os.symlink(target, temporary)
    os.rename(temporary, link)
