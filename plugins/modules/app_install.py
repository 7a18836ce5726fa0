#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: wsfleet.deploy maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: app_install
short_description: Install an app release into a virtualenv of its own from its wheels
version_added: 0.2.0
description:
  - "Installs release O(release) into C(<releases_dir>/<release>/venv) from the wheels that
    M(wsfleet.deploy.app_wheelhouse) built on the controller, which its action plugin carries
    to the host in one archive (O(wheelhouse)), with C(pip --no-index): the host needs no
    package index."
  - Checks the free space first, and stops naming O(min_free_space_mb) when there is too little,
    before anything changes. A failed install leaves nothing behind; a release is complete only
    once its C(release.json) is written, last, so an interrupted install is done again.
  - "Nothing is switched: M(wsfleet.deploy.app_rollout) makes a release live."
author:
  - wsfleet.deploy maintainers (!UNKNOWN)
options:
  base_dir:
    description: The app's base directory, holding C(releases/), C(current) and C(previous).
    type: path
    required: true
  release:
    description: The release id.
    type: str
    required: true
  wheelhouse:
    description:
      - The release's wheels for this host, a folder on the controller. The action plugin
        carries them over; the module itself receives them as O(archive).
    type: path
  archive:
    description: A tar archive of the wheels on the host (set by the action plugin).
    type: path
  package:
    description: The app's distribution name.
    type: str
    required: true
  version:
    description: The app's version.
    type: str
    required: true
  python:
    description: The interpreter the virtualenv is made with.
    type: path
    default: /usr/bin/python3
  min_free_space_mb:
    description: Free space, in MB, the releases' filesystem must have before the install.
    type: int
    default: 300
  record:
    description: More to write into the release's C(release.json), such as its wheels' digests.
    type: dict
    default: {}
  packages:
    description:
      - Debian packages the virtualenv needs, such as C(python3-venv). When one is missing the
        module installs nothing and reports it (RV(needs)); its action plugin installs them with
        M(ansible.builtin.apt) and calls it again.
    type: list
    elements: str
    default: []
attributes:
  action:
    description: An action plugin carries O(wheelhouse) to the host as one archive.
    support: full
  check_mode:
    description: Reports whether it would install; installs nothing.
    support: full
  diff_mode:
    description: Nothing to show.
    support: none
"""

EXAMPLES = r"""
- name: Install the release built on the controller
  wsfleet.deploy.app_install:
    base_dir: /srv/echo
    release: "{{ build.release_id }}"
    wheelhouse: "{{ build.wheelhouses['cp311-x86_64-glibc2.36'] }}"
    package: "{{ build.package }}"
    version: "{{ build.version }}"
    record:
      wheels: "{{ build.wheels }}"
"""

RETURN = r"""
installed:
  description: Whether the release was (or would be, in check mode) installed.
  returned: always
  type: bool
needs:
  description: The packages missing on the host (nothing else was done), for the action plugin.
  returned: when some are missing
  type: dict
  sample: {packages: [python3-venv]}
free_space_mb:
  description: Free space on the releases' filesystem before the install.
  returned: when the release was not installed yet
  type: int
"""

import datetime
import os
import shutil
import tarfile

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.wsfleet.deploy.plugins.module_utils.host_config import (
    installed_packages,
    missing_packages,
)
from ansible_collections.wsfleet.deploy.plugins.module_utils.releases import (
    read_release,
    write_json_whole,
)


# Pythons that know extraction filters warn without one; the entries are checked above anyway.
SAFE_EXTRACT = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}


def free_space_mb(path):
    while not os.path.exists(path):
        path = os.path.dirname(path)
    status = os.statvfs(path)
    return status.f_bavail * status.f_frsize // (1024 * 1024)


def run(module, argv):
    rc, out, err = module.run_command(argv)
    if rc != 0:
        raise RuntimeError(((err or out).strip().splitlines() or ["exit status %d" % rc])[-1])


def install(module, release_dir):
    """venv, wheels and release files in release_dir; raises on any failure."""
    params = module.params
    wheels = os.path.join(release_dir, "wheels")
    os.makedirs(wheels, 0o755)
    with tarfile.open(params["archive"]) as archive:
        for member in archive.getmembers():
            if not member.isfile() or "/" in member.name or member.name.startswith("."):
                raise RuntimeError("unexpected entry %r in the wheels' archive" % member.name)
            archive.extract(member, wheels, **SAFE_EXTRACT)
            os.chmod(os.path.join(wheels, member.name), 0o644)
    venv = os.path.join(release_dir, "venv")
    run(module, [params["python"], "-m", "venv", venv])
    requirement = "%s==%s" % (params["package"], params["version"])
    pip = os.path.join(venv, "bin", "pip")
    options = [
        "--no-index",
        "--no-cache-dir",
        "--disable-pip-version-check",
        "--find-links",
        wheels,
    ]
    run(module, [pip, "install", *options, requirement])
    with open(os.path.join(release_dir, "release.env"), "w") as handle:
        handle.write("WSFLEET_RELEASE=%s\n" % params["release"])
    os.chmod(os.path.join(release_dir, "release.env"), 0o644)
    record = dict(
        params["record"],
        id=params["release"],
        package=params["package"],
        version=params["version"],
        installed_at=datetime.datetime.utcnow().strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
    )
    # Written last: a release without it is an interrupted install.
    write_json_whole(os.path.join(release_dir, "release.json"), record, indent=2)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            base_dir=dict(type="path", required=True),
            release=dict(type="str", required=True),
            wheelhouse=dict(type="path"),
            archive=dict(type="path"),
            package=dict(type="str", required=True),
            version=dict(type="str", required=True),
            python=dict(type="path", default="/usr/bin/python3"),
            min_free_space_mb=dict(type="int", default=300),
            record=dict(type="dict", default={}),
            packages=dict(type="list", elements="str", default=[]),
        ),
        supports_check_mode=True,
    )
    params = module.params
    base_dir, release = params["base_dir"], params["release"]
    if not release or "/" in release or release.startswith("."):
        module.fail_json(msg="release must be a release id (a directory name), not %r" % release)
    releases_dir = os.path.join(base_dir, "releases")
    release_dir = os.path.join(releases_dir, release)
    if read_release(releases_dir, release)["complete"]:
        module.exit_json(changed=False, installed=False)

    free = free_space_mb(releases_dir)
    if free < params["min_free_space_mb"]:
        module.fail_json(
            msg="%s has %d MB free, and a release needs at least wsfleet_app_min_free_space_mb"
            " (%d MB): nothing was installed or switched. Free some space (fewer"
            " wsfleet_app_keep_releases prunes old releases)."
            % (releases_dir, free, params["min_free_space_mb"]),
            free_space_mb=free,
        )
    missing = missing_packages(
        params["packages"], installed_packages(module.run_command, params["packages"])
    )
    if missing and not module.check_mode:
        module.exit_json(changed=False, installed=False, needs=dict(packages=missing))
    if module.check_mode:
        module.exit_json(changed=True, installed=True)
    if not params["archive"]:
        module.fail_json(msg="archive is required to install (the action plugin sets it)")

    for folder in (base_dir, releases_dir):
        if not os.path.isdir(folder):
            os.makedirs(folder, 0o755)
    shutil.rmtree(release_dir, ignore_errors=True)
    try:
        install(module, release_dir)
    except (RuntimeError, IOError, OSError, tarfile.TarError) as exc:
        # A full disk or a failed pip: no half-installed release is left behind (nor made live).
        shutil.rmtree(release_dir, ignore_errors=True)
        module.fail_json(
            msg="installing release %s into %s failed, nothing was switched: %s"
            % (release, release_dir, exc)
        )
    module.exit_json(
        changed=True,
        installed=True,
        free_space_mb=free,
    )


if __name__ == "__main__":
    main()
