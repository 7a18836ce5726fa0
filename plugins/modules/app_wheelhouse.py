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
  - Gets the app's own wheel from one of three sources, then downloads the binary wheels of
    all its dependencies for each target host's Python version, CPU and glibc, so that hosts
    install the release with C(pip --no-index) and need no package index.
  - A dependency published only as an sdist is built on the controller (C(pip wheel), once for
    every target) when it builds into a pure wheel (C(none-any), pure Python), and the hosts
    install that. One whose sdist builds for a single platform (compiled code) fails the build,
    naming it and what to do (publish wheels for the hosts, or build them on a host of each
    platform and give their folder with C(--find-links) in O(pip_args)), before any host changes.
  - The app comes from a local source tree (O(source)), a package index (O(requirement)) or
    a git repository (O(git_url) at O(git_ref)). Whatever the source, its wheel is made with
    C(pip wheel --no-deps), which builds a source tree, a git checkout or an sdist, and
    fetches a wheel as it is.
  - Computes a release id from the content of every wheel, so that the same app and
    dependencies give the same id on every run and from every source, and new ones a new id.
  - "Meant to run on the controller, once per play (C(delegate_to: localhost), C(run_once))."
author:
  - wsfleet.deploy maintainers (!UNKNOWN)
options:
  source:
    description:
      - Path to the app's source tree on the controller (a directory holding C(pyproject.toml)
        or C(setup.py)).
      - Exactly one of O(source), O(requirement) and O(git_url) is required.
    type: path
  requirement:
    description:
      - A pip requirement for the app, taken from the package index (O(index_url), or pip's
        configured index when that is not set), such as C(wsfleet-echo==1.0.0) or
        C(wsfleet-echo>=1.0,<2).
      - A project name with optional version specifiers; extras, environment markers, URLs
        and paths are refused.
      - The index may serve a wheel or an sdist; an sdist is built on the controller.
      - When the requirement does not pin one version with C(==), every run takes the newest
        version the index serves. The release id still comes from the content of the wheels,
        so it changes only when the index serves something new (a new version of the app or
        of a dependency), and then the hosts get a new release.
      - Exactly one of O(source), O(requirement) and O(git_url) is required.
    type: str
  git_url:
    description:
      - URL of a git repository holding the app's source tree at its root, starting with
        C(https://), C(http://), C(ssh://), C(git://) or C(file://), optionally with pip's
        C(git+) prefix. Write scp-like addresses such as C(git@host:org/app.git) as
        C(ssh://git@host/org/app.git).
      - The module resolves O(git_ref) to a commit with C(git ls-remote), then builds with
        C(pip wheel --no-deps git+<url>@<commit>), so the commit it reports in RV(git_commit)
        is the one it built even if the branch moves meanwhile.
      - Needs C(git) on the controller's E(PATH).
      - Exactly one of O(source), O(requirement) and O(git_url) is required.
    type: str
  git_ref:
    description:
      - Branch, tag, full ref name (C(refs/...)), C(HEAD) (the remote's default branch) or
        full commit hash to build from O(git_url). Abbreviated commit hashes are not
        supported.
      - A name that is both a branch and a tag on different commits is refused; give it as
        C(refs/heads/<name>) or C(refs/tags/<name>).
      - Used only with O(git_url).
    type: str
    default: HEAD
  index_url:
    description:
      - Base URL of the package index (PEP 503 "simple" API) for every pip call, passed as
        C(--index-url) before O(pip_args). It serves O(requirement), the dependencies of
        every source, and the build requirements of O(source) and O(git_url).
      - It replaces pip's configured index only; C(extra-index-url) and C(find-links) from
        pip's configuration still apply. C(--isolated) in O(pip_args) makes pip ignore the
        user's configuration and the C(PIP_*) environment variables.
      - A password or token in the URL is hidden in RV(source) and in error messages.
    type: str
  ca_bundle:
    description:
      - CA bundle on the controller to verify the package index with, passed to every pip
        call as C(--cert) before O(pip_args). Must be a readable file.
    type: path
  dest:
    description:
      - Directory on the controller to build into. Each run builds in a private temporary
        folder inside it, then keeps the result as C(<dest>/<release id>/) (one folder per
        target in it), so that runs at the same time never see each other's files.
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
        description: CPU architecture as Python's C(platform.machine) reports it, such as C(x86_64).
        type: str
        required: true
      glibc_version:
        description: glibc version of the host, as C(2.36).
        type: str
        required: true
  force:
    description:
      - "Build again even when a build of the same source, targets, index and pip arguments is
        kept under O(dest). Without it such a build is reused (RV(cached)): a source tree by the
        content of its files, a requirement when it pins one version (C(==)), a git source by
        the commit O(git_ref) resolves to. A requirement that does not pin a version is always
        built (its newest version may have changed)."
    type: bool
    default: false
  pip_args:
    description:
      - Extra arguments for every pip call, after those of O(index_url) and O(ca_bundle).
    type: list
    elements: str
    default: []
attributes:
  check_mode:
    description: Can run in check mode and report what would change without changing it.
    support: full
    details: Builds on the controller even in check mode; it changes no managed host.
  diff_mode:
    description: Can show what changed (or would change in check mode) in diff mode.
    support: none
requirements:
  - pip on the controller's Python
  - git on the controller, for O(git_url)
notes:
  - Dependencies must be available as binary wheels for each target, since they are not
    built on the hosts.
  - O(source), O(requirement) and O(git_url) are mutually exclusive, and one of them is
    required.
  - The same app built from a source tree, from a wheel on an index or from git at a commit
    with the same tree gives the same release id, as long as its build is reproducible
    (hatchling and flit are, with the fixed E(SOURCE_DATE_EPOCH) the module sets).
"""

EXAMPLES = r"""
- name: Build the release wheels from a source tree on the controller
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

- name: Build the release wheels from a version published on a private index
  wsfleet.deploy.app_wheelhouse:
    requirement: wsfleet-echo==1.0.0
    index_url: https://pypi.example.com/simple
    ca_bundle: /etc/pki/example-ca.pem
    dest: "~/.cache/wsfleet/build/echo"
    targets:
      - python_version: "3.13"
        machine: aarch64
        glibc_version: "2.41"
  delegate_to: localhost
  run_once: true
  register: release

- name: Build the release wheels from a tag of a git repository
  wsfleet.deploy.app_wheelhouse:
    git_url: https://git.example.com/ops/wsfleet-echo.git
    git_ref: v1.0.0
    dest: "~/.cache/wsfleet/build/echo"
    targets: "{{ wsfleet_targets }}"
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
source:
  description:
    - Where the app came from, C(path:<source>), C(pip:<requirement> from <index>) or
      C(git:<url>@<ref>), with passwords and tokens in URLs hidden.
  returned: success
  type: str
  sample: git:https://git.example.com/ops/wsfleet-echo.git@v1.0.0
git_commit:
  description:
    - The commit built from O(git_url), resolved from O(git_ref) with C(git ls-remote)
      before the build (annotated tags resolve to the commit they point at).
  returned: when O(git_url) is set
  type: str
  sample: 0f5e7d4c1b2a39688776655443322110ffeeddcc
wheelhouses:
  description: Directory of wheels for each target, keyed by target name.
  returned: success
  type: dict
  sample: {"cp311-x86_64-glibc2.36": "/root/.cache/wsfleet/build/echo/cp311-x86_64-glibc2.36"}
wheels:
  description: SHA-256 digest of every wheel, keyed by C(<target>/<file name>).
  returned: success
  type: dict
cached:
  description: Whether the release was a kept build, reused without building (see O(force)).
  returned: success
  type: bool
"""

import contextlib
import glob
import json
import os
import shutil
import sys
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.wsfleet.deploy.plugins.module_utils.releases import write_json_whole
from ansible_collections.wsfleet.deploy.plugins.module_utils.wheelhouse import (
    cache_key,
    describe_source,
    file_sha256,
    git_pip_spec,
    git_remote_url,
    index_args,
    is_pinned,
    is_pure_wheel,
    normalize_project_name,
    parse_ls_remote,
    parse_requirement,
    parse_wheel_name,
    pip_dependency_wheels_args,
    pip_download_args,
    pip_wheel_args,
    no_wheel_message,
    redact_url,
    release_id,
    resolve_git_ref,
    source_digest,
    target_key,
    unsatisfied_requirement,
    wheels_of,
)

SOURCES = ("source", "requirement", "git_url")

# Reproducible builds (hatchling, flit) stamp files with this time; git must never prompt.
BUILD_ENVIRONMENT = {"SOURCE_DATE_EPOCH": "315532800", "GIT_TERMINAL_PROMPT": "0"}


def pip(module, args):
    """Run pip; (command, rc, stdout, stderr)."""
    cmd = [sys.executable, "-m", "pip", "--disable-pip-version-check", *args]
    rc, out, err = module.run_command(cmd, environ_update=BUILD_ENVIRONMENT)
    return cmd, rc, out, err


def fail_pip(module, cmd, rc, out, err):
    module.fail_json(
        msg="pip failed: %s" % " ".join(redact_url(arg) for arg in cmd),
        rc=rc,
        stdout=out,
        stderr=err,
    )


def run_pip(module, args):
    cmd, rc, out, err = pip(module, args)
    if rc != 0:
        fail_pip(module, cmd, rc, out, err)


def fresh_directory(path):
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)
    return path


def build_app_wheel(module, spec, dest, common_args):
    app_dir = fresh_directory(os.path.join(dest, "app"))
    run_pip(module, pip_wheel_args(app_dir, spec, common_args))
    wheels = glob.glob(os.path.join(app_dir, "*.whl"))
    if len(wheels) != 1:
        module.fail_json(msg="expected one app wheel from %s, got %s" % (redact_url(spec), wheels))
    return wheels[0]


def download_dependencies(module, app_wheel, dest, target, common_args):
    """The target's wheelhouse, and None; or None and pip's failed run."""
    target_dir = fresh_directory(os.path.join(dest, target_key(target)))
    cmd, rc, out, err = pip(module, pip_download_args(app_wheel, target_dir, target, common_args))
    return (target_dir, None) if rc == 0 else (None, (cmd, rc, out, err))


def build_pure_dependencies(module, app_wheel, scratch, common_args):
    """Build every dependency of the app on this controller: (find-links folder of the pure
    wheels or None when the build failed, names of every wheel built, the build's errors)."""
    built = fresh_directory(os.path.join(scratch, "built"))
    run = pip(module, pip_dependency_wheels_args(app_wheel, built, common_args))
    pure = fresh_directory(os.path.join(scratch, "pure"))
    for name in os.listdir(built):
        if is_pure_wheel(name):
            shutil.copy2(os.path.join(built, name), pure)
    succeeded = run[1] == 0
    return (pure if succeeded else None), os.listdir(built), ("" if succeeded else run[3])


def fail_download(module, target, failed, built, build_errors):
    """Fail naming the dependency pip found no wheel of for the target, or with pip's error."""
    missing = unsatisfied_requirement(failed[3])
    if missing is None:
        fail_pip(module, *failed)
    module.fail_json(
        msg=no_wheel_message(missing, target_key(target), wheels_of(missing, built)),
        stderr=failed[3],
        build_stderr=build_errors,
    )


def download_every_target(module, app_wheel, work, targets, common_args):
    """{target key: wheelhouse}. Binary wheels from the index first, as most dependencies
    publish them; when pip finds none of one (an sdist only), the controller builds the
    dependencies once and every target takes the pure ones from there."""
    wheelhouses, find_links, built, build_errors = {}, [], [], ""
    scratch = tempfile.mkdtemp(prefix=".sdists-", dir=os.path.dirname(work))
    try:
        for target in targets:
            wheelhouse, failed = download_dependencies(
                module, app_wheel, work, target, common_args + find_links
            )
            if failed is not None and not find_links and unsatisfied_requirement(failed[3]):
                pure, built, build_errors = build_pure_dependencies(
                    module, app_wheel, scratch, common_args
                )
                if pure is not None:
                    find_links = ["--find-links", pure]
                    wheelhouse, failed = download_dependencies(
                        module, app_wheel, work, target, common_args + find_links
                    )
            if failed is not None:
                fail_download(module, target, failed, built, build_errors)
            wheelhouses[target_key(target)] = wheelhouse
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return wheelhouses


def resolve_git_commit(module, url, ref):
    """The commit git_ref names in the repository at url, from git ls-remote."""
    git = shutil.which("git")
    if not git:
        module.fail_json(
            msg="git_url needs git on the controller's PATH, and none was found in %s"
            % os.environ.get("PATH", "")
        )
    rc, out, err = module.run_command([git, "ls-remote", url], environ_update=BUILD_ENVIRONMENT)
    if rc != 0:
        module.fail_json(
            msg="git ls-remote %s failed: %s" % (redact_url(url), err.strip()),
            rc=rc,
            stderr=err,
        )
    try:
        return resolve_git_ref(parse_ls_remote(out), ref)
    except LookupError as exc:
        module.fail_json(msg="%s at %s" % (exc, redact_url(url)))


def app_spec(module):
    """(what pip wheel builds the app from, git commit or None) for the chosen source."""
    params = module.params
    chosen = [name for name in SOURCES if params[name] is not None]
    if not chosen:  # all given, but as null, which required_one_of lets through
        module.fail_json(msg="one of the following is required: %s" % ", ".join(SOURCES))
    name = chosen[0]
    if not params[name].strip():
        module.fail_json(msg="%s is empty" % name)

    if name == "source":
        if not os.path.isdir(params["source"]):
            module.fail_json(msg="source %s is not a directory" % params["source"])
        return params["source"], None

    if name == "requirement":
        try:
            parse_requirement(params["requirement"])
        except ValueError as exc:
            module.fail_json(msg=str(exc))
        return params["requirement"].strip(), None

    try:
        url = git_remote_url(params["git_url"])
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    commit = resolve_git_commit(module, url, params["git_ref"])
    return git_pip_spec(url, commit), commit


def main():
    module = AnsibleModule(
        argument_spec=dict(
            source=dict(type="path"),
            requirement=dict(type="str"),
            git_url=dict(type="str"),
            git_ref=dict(type="str", default="HEAD"),
            index_url=dict(type="str"),
            ca_bundle=dict(type="path"),
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
            force=dict(type="bool", default=False),
        ),
        mutually_exclusive=[SOURCES],
        required_one_of=[SOURCES],
        supports_check_mode=True,
    )
    params = module.params
    dest, ca_bundle = params["dest"], params["ca_bundle"]
    if not params["targets"]:
        module.fail_json(msg="targets must name at least one host Python and platform")
    if ca_bundle is not None and not (os.path.isfile(ca_bundle) and os.access(ca_bundle, os.R_OK)):
        module.fail_json(msg="ca_bundle %s is not a readable file" % ca_bundle)
    if params["git_ref"] is None or not params["git_ref"].strip():
        module.fail_json(msg="git_ref is empty")

    spec, git_commit = app_spec(module)
    common_args = index_args(params["index_url"], ca_bundle) + params["pip_args"]

    os.makedirs(dest, exist_ok=True)
    key = build_cache_key(params, spec, git_commit)
    kept = None if key is None or params["force"] else kept_build(dest, key)
    if kept is not None:
        module.exit_json(**dict(kept, changed=False, cached=True))
    work = tempfile.mkdtemp(prefix=".build-", dir=dest)
    try:
        result = build_release(module, params, spec, work, common_args)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if git_commit is not None:
        result["git_commit"] = git_commit
    if key is not None:
        keep_build_record(dest, key, result)
    module.exit_json(cached=False, **result)


def build_cache_key(params, spec, git_commit):
    """The key a build is kept under, or None when the source may give another build each
    time (a requirement that does not pin its version)."""
    if params["source"] is not None:
        source = ["path", source_digest(params["source"])]
    elif params["git_url"] is not None:
        source = ["git", spec, git_commit]
    elif is_pinned(parse_requirement(spec)[1]):
        source = ["pip", spec]
    else:
        return None
    targets = sorted(target_key(target) for target in params["targets"])
    return cache_key([source, targets, params["index_url"], params["pip_args"]])


def cache_record(dest, key):
    return os.path.join(dest, ".cache", "%s.json" % key)


def kept_build(dest, key):
    """The result of the build kept under key, if every wheel of it is still there."""
    try:
        with open(cache_record(dest, key)) as handle:
            result = json.load(handle)
    except (IOError, OSError, ValueError):
        return None
    for name in result.get("wheels", {}):
        target, filename = name.split("/", 1)
        if not os.path.isfile(os.path.join(result["wheelhouses"].get(target, ""), filename)):
            return None
    return result


def keep_build_record(dest, key, result):
    os.makedirs(os.path.dirname(cache_record(dest, key)), exist_ok=True)
    write_json_whole(cache_record(dest, key), result, indent=1)


def build_release(module, params, spec, work, common_args):
    """Build into `work`, then keep it as <dest>/<release id>; return the module result."""
    app_wheel = build_app_wheel(module, spec, work, common_args)
    package, version = parse_wheel_name(app_wheel)
    if params["requirement"] is not None:
        wanted = parse_requirement(params["requirement"])[0]
        if normalize_project_name(package) != normalize_project_name(wanted):
            module.fail_json(
                msg="requirement %s gave a wheel of another project: %s"
                % (params["requirement"], os.path.basename(app_wheel))
            )

    wheelhouses = download_every_target(module, app_wheel, work, params["targets"], common_args)
    keys, digests = list(wheelhouses), {}
    for key, wheelhouse in wheelhouses.items():
        for path in sorted(glob.glob(os.path.join(wheelhouse, "*.whl"))):
            digests["%s/%s" % (key, os.path.basename(path))] = file_sha256(path)

    release = release_id(version, digests)
    kept = keep_build(work, os.path.join(params["dest"], release))
    return dict(
        changed=False,
        release_id=release,
        package=package,
        version=version,
        source=describe_source(
            source=params["source"],
            requirement=params["requirement"],
            git_url=params["git_url"],
            git_ref=params["git_ref"],
            index_url=params["index_url"],
        ),
        wheelhouses=dict((key, os.path.join(kept, key)) for key in keys),
        wheels=digests,
    )


def keep_build(work, final):
    """Move a finished build to its release folder. An existing one has the same content (the
    release id is a digest of it) unless some of its wheels were lost: then it is replaced."""
    os.makedirs(final, exist_ok=True)
    for name in os.listdir(work):
        built, target = os.path.join(work, name), os.path.join(final, name)
        if os.path.isdir(target) and set(os.listdir(target)) != set(os.listdir(built)):
            shutil.rmtree(target, ignore_errors=True)
        if not os.path.exists(target):
            # Another run may keep the same folder first: its wheels are the same.
            with contextlib.suppress(OSError):
                os.rename(built, target)
    return final


if __name__ == "__main__":
    main()
