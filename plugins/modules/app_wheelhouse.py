#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: wsfleet.deploy maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: app_wheelhouse
short_description: Build an app release as wheels for every Python and platform of the fleet
version_added: 0.1.0
description:
  - Builds the app's wheel from a local source tree with C(pip wheel), then downloads the
    binary wheels of all its dependencies for each target host's Python version, CPU and
    glibc, so that hosts install the release with C(pip --no-index) and need no package index.
  - Computes a release id from the content of every wheel, so that the same source gives the
    same id on every run, and a new source a new one.
  - Meant to run on the controller, once per play (C(delegate_to: localhost), C(run_once)).
author:
  - wsfleet.deploy maintainers
options:
  source:
    description:
      - Path to the app's source tree on the controller (a directory holding C(pyproject.toml)
        or C(setup.py)).
    type: path
    required: true
  dest:
    description:
      - Directory on the controller to build into. Its C(app/) and one folder per target are
        replaced on each run.
    type: path
    required: true
  targets:
    description:
      - The distinct Python ABIs and platforms of the hosts that will install the release.
    type: list
    elements: dict
    required: true
    suboptions:
      python_version:
        description: Python version of the app's interpreter on the host, as C(3.11).
        type: str
        required: true
      machine:
        description: CPU architecture as C(platform.machine()) reports it, such as C(x86_64).
        type: str
        required: true
      glibc_version:
        description: glibc version of the host, as C(2.36).
        type: str
        required: true
  pip_args:
    description:
      - Extra arguments for every pip call, such as C(--index-url) or C(--cert).
    type: list
    elements: str
    default: []
attributes:
  check_mode:
    support: full
    details: Builds on the controller even in check mode; it changes no managed host.
  diff_mode:
    support: none
requirements:
  - pip on the controller's Python
notes:
  - Dependencies must be available as binary wheels for each target, since they are not
    built on the hosts.
"""

EXAMPLES = r"""
- name: Build the release wheels on the controller
  wsfleet.deploy.app_wheelhouse:
    source: "{{ playbook_dir }}/examples/echo_app"
    dest: "~/.cache/wsfleet/build/echo"
    targets:
      - python_version: "3.11"
        machine: x86_64
        glibc_version: "2.36"
  delegate_to: localhost
  run_once: true
  register: release
"""

RETURN = r"""
release_id:
  description: Content-addressed id of the release, C(<version>-<12 hex digits>).
  returned: success
  type: str
  sample: 1.0.0-3fa2c1d9e0ab
package:
  description: Distribution name of the app, as in its wheel file name.
  returned: success
  type: str
  sample: wsfleet_echo
version:
  description: Version of the app.
  returned: success
  type: str
  sample: 1.0.0
wheelhouses:
  description: Directory of wheels for each target, keyed by target name.
  returned: success
  type: dict
  sample: {"cp311-x86_64-glibc2.36": "/root/.cache/wsfleet/build/echo/cp311-x86_64-glibc2.36"}
wheels:
  description: SHA-256 digest of every wheel, keyed by C(<target>/<file name>).
  returned: success
  type: dict
"""

import glob
import os
import shutil
import sys

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.wsfleet.deploy.plugins.module_utils.wheelhouse import (
    file_sha256,
    manylinux_platforms,
    parse_wheel_name,
    release_id,
    target_key,
)


def run_pip(module, args):
    cmd = [sys.executable, "-m", "pip", "--disable-pip-version-check", *args]
    rc, out, err = module.run_command(cmd, environ_update={"SOURCE_DATE_EPOCH": "315532800"})
    if rc != 0:
        module.fail_json(msg="pip failed: %s" % " ".join(cmd), rc=rc, stdout=out, stderr=err)


def fresh_directory(path):
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)
    return path


def build_app_wheel(module, source, dest):
    app_dir = fresh_directory(os.path.join(dest, "app"))
    run_pip(
        module,
        ["wheel", "--no-deps", "--wheel-dir", app_dir] + module.params["pip_args"] + [source],
    )
    wheels = glob.glob(os.path.join(app_dir, "*.whl"))
    if len(wheels) != 1:
        module.fail_json(msg="expected one app wheel from %s, got %s" % (source, wheels))
    return wheels[0]


def download_dependencies(module, app_wheel, dest, target):
    target_dir = fresh_directory(os.path.join(dest, target_key(target)))
    platform_args = []
    for tag in manylinux_platforms(target["machine"], target["glibc_version"]):
        platform_args += ["--platform", tag]
    run_pip(
        module,
        [
            "download",
            "--only-binary=:all:",
            "--dest",
            target_dir,
            "--python-version",
            target["python_version"],
            "--implementation",
            "cp",
        ]
        + platform_args
        + module.params["pip_args"]
        + [app_wheel],
    )
    return target_dir


def main():
    module = AnsibleModule(
        argument_spec=dict(
            source=dict(type="path", required=True),
            dest=dict(type="path", required=True),
            targets=dict(
                type="list",
                elements="dict",
                required=True,
                options=dict(
                    python_version=dict(type="str", required=True),
                    machine=dict(type="str", required=True),
                    glibc_version=dict(type="str", required=True),
                ),
            ),
            pip_args=dict(type="list", elements="str", default=[]),
        ),
        supports_check_mode=True,
    )
    source, dest = module.params["source"], module.params["dest"]
    if not os.path.isdir(source):
        module.fail_json(msg="source %s is not a directory" % source)
    if not module.params["targets"]:
        module.fail_json(msg="targets must name at least one host Python and platform")

    os.makedirs(dest, exist_ok=True)
    app_wheel = build_app_wheel(module, source, dest)
    package, version = parse_wheel_name(app_wheel)

    wheelhouses, digests = {}, {}
    for target in module.params["targets"]:
        key = target_key(target)
        wheelhouses[key] = download_dependencies(module, app_wheel, dest, target)
        for path in sorted(glob.glob(os.path.join(wheelhouses[key], "*.whl"))):
            digests["%s/%s" % (key, os.path.basename(path))] = file_sha256(path)

    module.exit_json(
        changed=False,
        release_id=release_id(version, digests),
        package=package,
        version=version,
        wheelhouses=wheelhouses,
        wheels=digests,
    )


if __name__ == "__main__":
    main()
