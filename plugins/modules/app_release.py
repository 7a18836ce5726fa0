#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: wsfleet.deploy maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: app_release
short_description: Switch an app's live release atomically, remember the one before, prune old ones
version_added: 0.1.0
description:
  - Works on the release layout of the M(wsfleet.deploy.app) role, C(<base_dir>/releases/<id>/)
    with a C(release.json) written last by a complete install, and two symlinks
    C(<base_dir>/current) (the live release) and C(<base_dir>/previous) (the one before it).
  - With O(release), makes that release current by renaming a new symlink over C(current), so
    that a process starting at any moment sees either the old or the new release, never none;
    C(previous) then points at the release that was live before. The switch is marked
    pending, as M(wsfleet.deploy.app_rollout) marks its own; the next rollout replaces every
    process, which still runs the release that was live before.
  - With O(keep), removes the oldest releases until at most O(keep) remain. Age is the install
    time recorded in each C(release.json), never a file time. The live release and the one
    before it are never removed.
author:
  - wsfleet.deploy maintainers (!UNKNOWN)
options:
  base_dir:
    description: The app's base directory, holding C(releases/), C(current) and C(previous).
    type: path
    required: true
  release:
    description:
      - Id of the release to make live. It must be complete (have its C(release.json)).
    type: str
  keep:
    description:
      - How many releases to keep at most, counting the live one and the one before it.
    type: int
attributes:
  check_mode:
    description: Can run in check mode and report what would change without changing it.
    support: full
  diff_mode:
    description: Can show what changed (or would change in check mode) in diff mode.
    support: full
    details: Shows the target of C(current) before and after.
notes:
  - At least one of O(release) and O(keep) is required.
"""

EXAMPLES = r"""
- name: Make the new release live and keep five
  wsfleet.deploy.app_release:
    base_dir: /srv/echo
    release: 1.0.0-3fa2c1d9e0ab
    keep: 5

- name: Roll back to the release that was live before
  wsfleet.deploy.app_release:
    base_dir: /srv/echo
    release: "{{ lookup('ansible.builtin.pipe', 'readlink /srv/echo/previous') | basename }}"
"""

RETURN = r"""
current:
  description: Id of the live release after the call (or that it would be, in check mode).
  returned: always
  type: str
  sample: 1.0.0-3fa2c1d9e0ab
previous:
  description: Id of the release that was live before the current one, if any.
  returned: always
  type: str
switched:
  description: Whether C(current) changed.
  returned: always
  type: bool
pruned:
  description: Ids of the releases removed (or that would be, in check mode).
  returned: always
  type: list
  elements: str
releases:
  description: Ids of the releases left, oldest first.
  returned: always
  type: list
  elements: str
"""

import os
import shutil

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.wsfleet.deploy.plugins.module_utils.releases import (
    ReleaseLinks,
    list_releases,
    read_release,
    releases_to_prune,
)


def switch(module, links, release, result):
    current, releases_dir = links.current(), links.releases_dir
    if current == release:
        return
    if not read_release(releases_dir, release)["complete"]:
        if module.check_mode:
            module.warn("release %s is not installed yet (check mode)" % release)
        else:
            module.fail_json(
                msg="release %s is not installed completely in %s" % (release, releases_dir),
                **result,
            )
    result.update(changed=True, switched=True, current=release)
    result["diff"] = {"before": "current -> %s\n" % current, "after": "current -> %s\n" % release}
    if current:
        result["previous"] = current
    if not module.check_mode:
        links.switch(release)


def prune(module, releases_dir, keep, result):
    releases = list_releases(releases_dir)
    protected = set(filter(None, [result["current"], result["previous"]]))
    doomed = releases_to_prune(releases, keep, protected)
    if doomed:
        result.update(changed=True, pruned=doomed)
    if not module.check_mode:
        for release in doomed:
            shutil.rmtree(os.path.join(releases_dir, release))
    result["releases"] = [record["id"] for record in releases if record["id"] not in doomed]


def main():
    module = AnsibleModule(
        argument_spec=dict(
            base_dir=dict(type="path", required=True),
            release=dict(type="str"),
            keep=dict(type="int"),
        ),
        required_one_of=[["release", "keep"]],
        supports_check_mode=True,
    )
    links = ReleaseLinks(module.params["base_dir"])
    release, keep = module.params["release"], module.params["keep"]
    if release is not None and (not release or "/" in release or release.startswith(".")):
        module.fail_json(msg="release must be a release id (a directory name), not %r" % release)
    if keep is not None and keep < 2:
        module.fail_json(msg="keep must be at least 2: the live release and the one before it")

    result = dict(
        changed=False,
        switched=False,
        current=links.current(),
        previous=links.previous(),
        pruned=[],
        releases=[record["id"] for record in list_releases(links.releases_dir)],
    )
    if release is not None:
        switch(module, links, release, result)
    if keep is not None:
        prune(module, links.releases_dir, keep, result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
