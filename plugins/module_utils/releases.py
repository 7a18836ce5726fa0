# -*- coding: utf-8 -*-
# Copyright: wsfleet.deploy maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Release directories on a host: reading them in install order, choosing what to prune, and
the links (current, previous) that make one live."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import tempfile
import time

RECORD = "release.json"
# In the base directory while a rollout that switched the release is under way.
PENDING = ".rollout-pending"


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


class ReleaseLinks:
    """current and previous under the app's base directory, as app_rollout switches them."""

    def __init__(self, base_dir):
        self.base_dir = base_dir
        self.releases_dir = os.path.join(base_dir, "releases")

    def _link(self, name):
        return os.path.join(self.base_dir, name)

    def current(self):
        return link_target_id(self._link("current"))

    def previous(self):
        return link_target_id(self._link("previous"))

    def interrupted(self):
        return os.path.exists(self._link(PENDING))

    def settle(self):
        if os.path.exists(self._link(PENDING)):
            os.unlink(self._link(PENDING))

    def switch(self, release):
        current = self.current()
        if current == release:
            return False
        # Written before the switch, removed once every process runs the live release: a
        # rollout cut short in between is finished by the next one.
        with open(self._link(PENDING), "w") as handle:
            handle.write("%s\n" % release)
        if current:
            replace_symlink(self._link("previous"), os.path.join(self.releases_dir, current))
        replace_symlink(self._link("current"), os.path.join(self.releases_dir, release))
        return True

    def restore(self, current, previous):
        for name, release in (("current", current), ("previous", previous)):
            if release:
                replace_symlink(self._link(name), os.path.join(self.releases_dir, release))
            elif os.path.islink(self._link(name)):
                os.unlink(self._link(name))
