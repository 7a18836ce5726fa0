#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: wsfleet.deploy maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: host_config
short_description: Apply a role's configuration of a host in one call, reload only what changed
version_added: 0.2.0
description:
  - "One call per role and host instead of a task per file: the files (rendered on the
    controller), folders, links and removals a role needs, checked before they go live,
    then the services whose files changed reloaded or restarted, and the commands that must
    follow a change run."
  - Packages, groups and users the configuration needs are checked first. Its action plugin
    installs what is missing with M(ansible.builtin.apt), M(ansible.builtin.group) and
    M(ansible.builtin.user), then calls the module again; on a host that has them all, the
    whole role costs one round trip.
  - "In this order: O(requires) checked; folders; symlinks that must not be links removed
    (O(not_links)); O(prepare) commands; links; files (those with a check last, since a check
    reads the others), each written to a temporary file beside its place, checked with its
    O(files[].validate) command and renamed over the old one;
    removals; systemd's units read again when a unit or drop-in changed; services; O(after)
    commands. Services to stop are stopped first of all."
author:
  - wsfleet.deploy maintainers (!UNKNOWN)
options:
  packages:
    description: Debian packages that must be installed.
    type: list
    elements: str
    default: []
  absent_packages:
    description:
      - Debian packages that must not be installed (purged, before O(packages) are installed).
    type: list
    elements: str
    default: []
  install_recommends:
    description:
      - Whether installing O(packages) also installs the packages they recommend (APT's
        default). V(false) keeps a host to what the packages need, such as an exporter without
        the collectors and tools it recommends.
    type: bool
    default: true
  groups:
    description: Groups that must exist.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: The group's name.
        type: str
        required: true
      system:
        description: Create it as a system group.
        type: bool
        default: true
  users:
    description:
      - Users that must exist. An existing user is only given the supplementary groups it lacks.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: The user's name.
        type: str
        required: true
      group:
        description: Its primary group, when it is created.
        type: str
      groups:
        description: Supplementary groups it must belong to (added, never removed).
        type: list
        elements: str
      system:
        description: Create it as a system user.
        type: bool
        default: true
      home:
        description: Its home directory, when it is created (not made).
        type: path
      shell:
        description: Its shell, when it is created.
        type: path
  directories:
    description: Folders that must exist, with their owner, group and mode.
    type: list
    elements: dict
    default: []
    suboptions: &attributes
      path:
        description: Absolute path.
        type: path
        required: true
      owner:
        description: Owner (a user name); left as it is when not given.
        type: str
      group:
        description: Group (a group name); left as it is when not given.
        type: str
      mode:
        description: Mode, in octal, such as C("0644"); left as it is when not given.
        type: raw
  files:
    description:
      - Files and their whole content. A missing folder a file goes in is made (owner root, mode
        C(0755)) unless O(directories) names it.
    type: list
    elements: dict
    default: []
    suboptions: &files
      path:
        description: Absolute path.
        type: path
        required: true
      content:
        description: The whole content of the file. Give it or O(files[].template).
        type: str
      template:
        description:
          - A template of the role, such as C(nginx.conf.j2), found and rendered on the controller
            by the module's action plugin (as M(ansible.builtin.template) finds and renders its
            source, C(ansible_managed) included) into O(files[].content).
        type: str
      template_vars:
        description: Variables for O(files[].template) only, beside the task's.
        type: dict
      owner:
        description: Owner (a user name); left as it is when not given.
        type: str
      group:
        description: Group (a group name); left as it is when not given.
        type: str
      mode:
        description: Mode, in octal, such as C("0644"); left as it is when not given.
        type: raw
      validate:
        description:
          - A command that checks the new content before it replaces the old, with C(%s) where
            the new file's path goes, such as C(/usr/sbin/nginx -t -q -c %s). A check that fails
            leaves the old file, and fails the module. Not run in check mode.
        type: str
  secret_files:
    description:
      - Files like O(files) whose content is a secret, kept out of the output and the diff.
    type: list
    elements: dict
    default: []
    suboptions: *files
  links:
    description: Symbolic links, replaced atomically when they point elsewhere.
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: Where the link is.
        type: path
        required: true
      src:
        description: What it points at.
        type: str
        required: true
  absent:
    description: Paths that must not exist (a folder goes with what it holds).
    type: list
    elements: path
    default: []
  not_links:
    description:
      - Paths that must not be symbolic links (removed if they are), such as a certificate that
        a file of its own replaces.
    type: list
    elements: path
    default: []
  requires:
    description:
      - Paths that must exist before anything changes, such as certificate files an operator
        installs; the module fails naming the missing ones.
    type: list
    elements: path
    default: []
  prepare:
    description:
      - Commands run before the files are written, for files that cannot be shipped, such as a
        private key made on the host.
    type: list
    elements: dict
    default: []
    suboptions: &commands
      argv:
        description: The command and its arguments (no shell).
        type: list
        elements: str
        required: true
      creates:
        description: Run only when this path does not exist.
        type: path
      retries:
        description:
          - Times to try the command again when it fails, O(prepare[].delay) seconds apart, such
            as a client of a service that was just started.
        type: int
        default: 0
      delay:
        description: Seconds between two tries (see O(prepare[].retries)).
        type: float
        default: 1.0
      when_changed:
        description:
          - Run only when one of these paths (a folder stands for what is under it) changed in
            this call.
        type: list
        elements: str
  after:
    description:
      - Commands run last, when their condition holds (see O(prepare)), such as
        C(supervisorctl update).
    type: list
    elements: dict
    default: []
    suboptions: *commands
  services:
    description:
      - systemd services, handled in order after the files; those to stop
        (O(services[].state=stopped)) before anything else, while the files that say how to
        stop them are still there.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: The unit's name.
        type: str
        required: true
      state:
        description:
          - V(started) starts it when it is not running; V(stopped) stops it when it is. When
            not given, a service that does not run is left so.
        type: str
        choices: [started, stopped]
      enabled:
        description: Whether it starts at boot; left as it is when not given.
        type: bool
      reload_on:
        description:
          - Paths (a folder stands for what is under it) whose change reloads the running
            service, or V(packages) and V(users) for prerequisites installed in this run.
        type: list
        elements: str
        default: []
      restart_on:
        description: Like O(services[].reload_on), for a restart.
        type: list
        elements: str
        default: []
  prerequisites_changed:
    description:
      - Set by the action plugin when it installed packages (V(packages)) or created or changed
        users or groups (V(users)) before this call, so that services can react to them.
    type: list
    elements: str
    default: []
attributes:
  action:
    description: An action plugin installs the missing prerequisites, then calls the module again.
    support: full
  check_mode:
    description: Reports what would change; writes nothing, runs no command, touches no service.
    support: full
  diff_mode:
    description: Shows the files that change, but for O(secret_files).
    support: full
notes:
  - In check mode on a host that lacks the packages, files are compared as if new and their
    checks are not run.
"""

EXAMPLES = r"""
- name: Run NGINX with its configuration, checked, and reloaded only when it changed
  wsfleet.deploy.host_config:
    packages: [nginx]
    files:
      - path: /etc/nginx/nginx.conf
        content: "{{ lookup('ansible.builtin.template', 'nginx.conf.j2') }}"
        owner: root
        group: root
        mode: "0644"
        validate: /usr/sbin/nginx -t -q -c %s
    absent: [/etc/nginx/sites-enabled/default]
    services:
      - name: nginx.service
        state: started
        enabled: true
        reload_on: [/etc/nginx]
"""

RETURN = r"""
changed_paths:
  description: Paths written, created, changed or removed (or that would be, in check mode).
  returned: always
  type: list
  elements: str
  sample: [/etc/nginx/nginx.conf]
services:
  description: What was done to each service that needed something, in order.
  returned: always
  type: dict
  sample: {nginx.service: [reload]}
commands:
  description: The O(prepare) and O(after) commands that ran (or would run, in check mode).
  returned: always
  type: list
  elements: list
needs:
  description:
    - The prerequisites missing on the host, for the action plugin; when any is missing (and
      not in check mode), nothing else was done.
  returned: when some are missing
  type: dict
  sample: {packages: [nginx], absent_packages: [], groups: [], users: []}
"""

import grp
import os
import pwd
import shutil
import stat
import tempfile
import time

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_bytes, to_native, to_text
from ansible_collections.wsfleet.deploy.plugins.module_utils.host_config import (
    commands_to_run,
    file_diff,
    file_differences,
    installed_packages,
    missing_groups,
    missing_packages,
    mode_string,
    needs_daemon_reload,
    present_packages,
    service_actions,
    user_needs,
    validate_argv,
)

COMMAND_SPEC = dict(
    argv=dict(type="list", elements="str", required=True),
    retries=dict(type="int", default=0),
    delay=dict(type="float", default=1.0),
    creates=dict(type="path"),
    when_changed=dict(type="list", elements="str"),
)
ATTRIBUTES_SPEC = dict(
    path=dict(type="path", required=True),
    owner=dict(type="str"),
    group=dict(type="str"),
    mode=dict(type="raw"),
)


def files_spec(secret):
    return dict(
        ATTRIBUTES_SPEC,
        content=dict(type="str", no_log=secret),
        # Rendered into content by the action plugin: the module never gets them.
        template=dict(type="str"),
        template_vars=dict(type="dict"),
        validate=dict(type="str"),
    )


ARGUMENT_SPEC = dict(
    packages=dict(type="list", elements="str", default=[]),
    absent_packages=dict(type="list", elements="str", default=[]),
    install_recommends=dict(type="bool", default=True),
    groups=dict(
        type="list",
        elements="dict",
        default=[],
        options=dict(name=dict(type="str", required=True), system=dict(type="bool", default=True)),
    ),
    users=dict(
        type="list",
        elements="dict",
        default=[],
        options=dict(
            name=dict(type="str", required=True),
            group=dict(type="str"),
            groups=dict(type="list", elements="str"),
            system=dict(type="bool", default=True),
            home=dict(type="path"),
            shell=dict(type="path"),
        ),
    ),
    directories=dict(type="list", elements="dict", default=[], options=ATTRIBUTES_SPEC),
    files=dict(type="list", elements="dict", default=[], options=files_spec(False)),
    # no_log on each file's content (files_spec), not on the list: its paths are no secret.
    secret_files=dict(
        type="list", elements="dict", default=[], options=files_spec(True), no_log=False
    ),
    links=dict(
        type="list",
        elements="dict",
        default=[],
        options=dict(path=dict(type="path", required=True), src=dict(type="str", required=True)),
    ),
    absent=dict(type="list", elements="path", default=[]),
    not_links=dict(type="list", elements="path", default=[]),
    requires=dict(type="list", elements="path", default=[]),
    prepare=dict(type="list", elements="dict", default=[], options=COMMAND_SPEC),
    after=dict(type="list", elements="dict", default=[], options=COMMAND_SPEC),
    services=dict(
        type="list",
        elements="dict",
        default=[],
        options=dict(
            name=dict(type="str", required=True),
            state=dict(type="str", choices=["started", "stopped"]),
            enabled=dict(type="bool"),
            reload_on=dict(type="list", elements="str", default=[]),
            restart_on=dict(type="list", elements="str", default=[]),
        ),
    ),
    prerequisites_changed=dict(type="list", elements="str", default=[]),
)


class Host:
    """Reads the host and changes it, for one module run; every change is recorded."""

    def __init__(self, module):
        self.module = module
        self.check = module.check_mode
        self.changed = []
        self.diff = []
        self.services = {}
        self.commands = []

    def run(self, argv, what):
        rc, out, err = self.module.run_command(argv)
        if rc != 0:
            self.module.fail_json(
                msg="%s failed: %s" % (what, (err or out).strip() or "exit status %d" % rc),
                cmd=argv,
                rc=rc,
                changed_paths=self.changed,
            )
        return out

    # Prerequisites

    def needs(self, params):
        names = params["packages"] + params["absent_packages"]
        installed = installed_packages(self.module.run_command, names)
        accounts = set(entry.pw_name for entry in pwd.getpwall())
        groups = grp.getgrall()
        memberships = dict((entry.gr_name, entry.gr_mem) for entry in groups)
        users = [user_needs(user, accounts, memberships) for user in params["users"]]
        return dict(
            absent_packages=present_packages(params["absent_packages"], installed),
            packages=missing_packages(params["packages"], installed),
            groups=missing_groups(params["groups"], set(memberships)),
            users=[user for user in users if user is not None],
        )

    # Files, folders, links

    def current(self, path, kind, read_content):
        """What is at path now, as file_differences compares it, or None for nothing (or
        something of another kind, such as a link where a file goes)."""
        try:
            status = os.lstat(path)
        except OSError:
            return None
        is_kind = stat.S_ISDIR if kind == "directory" else stat.S_ISREG
        if not is_kind(status.st_mode):
            return None
        current = dict(
            mode=mode_string(stat.S_IMODE(status.st_mode)),
            owner=name_of(pwd.getpwuid, status.st_uid),
            group=name_of(grp.getgrgid, status.st_gid),
        )
        if read_content:
            with open(path, "rb") as handle:
                current["content"] = handle.read()
        return current

    def ids(self, spec):
        """(uid, gid) for the spec's owner and group; -1 leaves one as it is. In check mode an
        owner that does not exist yet (its package or user is to come) is left out."""
        uid = gid = -1
        try:
            if spec.get("owner") is not None:
                uid = pwd.getpwnam(spec["owner"]).pw_uid
            if spec.get("group") is not None:
                gid = grp.getgrnam(spec["group"]).gr_gid
        except KeyError as exc:
            if not self.check:
                self.module.fail_json(msg="%s: no such user or group %s" % (spec["path"], exc))
        return uid, gid

    def directory(self, spec):
        path = spec["path"]
        differences = file_differences(spec, self.current(path, "directory", False))
        if not differences:
            return
        self.changed.append(path)
        if self.check:
            return
        if "state" in differences:
            if os.path.lexists(path):
                os.unlink(path)
            os.makedirs(path)
        self.set_attributes(path, spec)

    def set_attributes(self, path, spec):
        uid, gid = self.ids(spec)
        if uid != -1 or gid != -1:
            os.chown(path, uid, gid)
        if spec.get("mode") is not None:
            os.chmod(path, int(mode_string(spec["mode"]), 8))

    def file(self, spec, secret=False):
        path = spec["path"]
        wanted = dict(spec, content=to_bytes(spec["content"]))
        current = self.current(path, "file", True)
        differences = file_differences(wanted, current)
        if not differences:
            return
        self.changed.append(path)
        rewritten = "state" in differences or "content" in differences
        if self.module._diff and not secret and rewritten:
            before = to_text((current or {}).get("content")) if current else None
            self.diff.append(file_diff(path, before, spec["content"]))
        if self.check:
            return
        if "state" in differences or "content" in differences:
            self.replace(path, wanted["content"], spec)
        else:
            self.set_attributes(path, spec)

    def replace(self, path, content, spec):
        """Write beside the old file, check, then rename over it: the old one stays until the new
        one is whole and checked."""
        folder = os.path.dirname(path)
        if not os.path.isdir(folder):
            # A folder no entry of O(directories) names, such as a unit's drop-in folder.
            os.makedirs(folder, 0o755)
        descriptor, temporary = tempfile.mkstemp(prefix=".%s." % os.path.basename(path), dir=folder)
        try:
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(content)
            self.keep_attributes(path, temporary)
            self.set_attributes(temporary, spec)
            if spec.get("validate"):
                rc, out, err = self.module.run_command(validate_argv(spec["validate"], temporary))
                if rc != 0:
                    self.module.fail_json(
                        msg="%s did not pass its check (%s): %s"
                        % (path, spec["validate"], (err or out).strip()),
                        changed_paths=self.changed[:-1],
                    )
            os.rename(temporary, path)
        finally:
            if os.path.lexists(temporary):
                os.unlink(temporary)

    def keep_attributes(self, path, temporary):
        """A file written anew keeps the mode and owner of the one it replaces, as an attribute
        not given is left as it is (a secret stays 0600); a new file is 0644."""
        if not os.path.exists(path):
            os.chmod(temporary, 0o644)
            return
        status = os.stat(path)
        os.chown(temporary, status.st_uid, status.st_gid)
        os.chmod(temporary, status.st_mode & 0o7777)

    def link(self, spec):
        path, source = spec["path"], spec["src"]
        if os.path.islink(path) and os.readlink(path) == source:
            return
        self.changed.append(path)
        if self.check:
            return
        temporary = "%s.wsfleet-new" % path
        if os.path.lexists(temporary):
            os.unlink(temporary)
        os.symlink(source, temporary)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        os.rename(temporary, path)

    def remove(self, path, only_links=False):
        if not os.path.lexists(path) or (only_links and not os.path.islink(path)):
            return
        self.changed.append(path)
        if self.check:
            return
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.unlink(path)

    # Commands and services

    def commands_step(self, commands, what):
        for command in commands_to_run(commands, self.changed):
            self.commands.append(command["argv"])
            if not self.check:
                self.run_with_retries(command, what)

    def run_with_retries(self, command, what):
        for _attempt in range(command["retries"]):
            if self.module.run_command(command["argv"])[0] == 0:
                return
            time.sleep(command["delay"])
        self.run(command["argv"], what)

    def systemctl(self, *args):
        return self.module.run_command(["systemctl", *list(args)])

    def service(self, service, changed):
        name = service["name"]
        active = self.systemctl("is-active", "--quiet", name)[0] == 0
        enabled = self.systemctl("is-enabled", "--quiet", name)[0] == 0
        actions = service_actions(service, active, enabled, changed)
        if not actions:
            return
        self.services[name] = actions
        if self.check:
            return
        if any(action in ("start", "restart") for action in actions):
            # A package's own start with its stock settings (before ours were written) may have
            # failed into systemd's start limit, which would refuse our start or restart: forget
            # it. Active now is no proof: a unit that restarts on failure is active between
            # failures, until the limit stops it.
            self.systemctl("reset-failed", name)
        for action in actions:
            self.run(["systemctl", action, name], "systemctl %s %s" % (action, name))


def name_of(lookup, number):
    try:
        return lookup(number)[0]
    except KeyError:
        return str(number)


def without_content(params):
    """The files given without content: a template is rendered by the action plugin only."""
    return [
        spec["path"]
        for spec in params["files"] + params["secret_files"]
        if spec.get("content") is None
    ]


def apply(host, params):
    unrendered = without_content(params)
    if unrendered:
        host.module.fail_json(
            msg="no content for %s: a template is rendered by the module's action plugin"
            % ", ".join(unrendered)
        )
    missing = [path for path in params["requires"] if not os.path.exists(path)]
    if missing:
        host.module.fail_json(msg="missing on the host: %s" % ", ".join(missing), missing=missing)
    # Services to stop go first, while the files that say how to stop them are still there.
    stopping = [service for service in params["services"] if service["state"] == "stopped"]
    for service in stopping:
        host.service(service, [])
    for spec in params["directories"]:
        host.directory(spec)
    for path in params["not_links"]:
        host.remove(path, only_links=True)
    host.commands_step(params["prepare"], "a prepare command")
    # Before the files: a file's check may read what a link points at (a key beside a certificate).
    for spec in params["links"]:
        host.link(spec)
    # Files with a check go last: a check reads the others (a CA, a drop-in, a secret).
    files = [(spec, False) for spec in params["files"]] + [
        (spec, True) for spec in params["secret_files"]
    ]
    for spec, secret in sorted(files, key=lambda entry: bool(entry[0].get("validate"))):
        host.file(spec, secret=secret)
    for path in params["absent"]:
        host.remove(path)
    if needs_daemon_reload(host.changed) and not host.check:
        host.run(["systemctl", "daemon-reload"], "systemctl daemon-reload")
    changed = host.changed + params["prerequisites_changed"]
    for service in params["services"]:
        if service not in stopping:
            host.service(service, changed)
    host.commands_step(params["after"], "an after command")


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    host = Host(module)
    needs = host.needs(module.params)
    missing = any(needs.values())
    if missing and not module.check_mode:
        module.exit_json(changed=False, needs=needs, changed_paths=[], services={}, commands=[])
    try:
        apply(host, module.params)
    except (IOError, OSError) as exc:
        module.fail_json(msg=to_native(exc), changed_paths=host.changed)
    result = dict(
        changed=bool(host.changed or host.services or host.commands or missing),
        changed_paths=host.changed,
        services=host.services,
        commands=host.commands,
    )
    if missing:
        result["needs"] = needs
    if module._diff:
        result["diff"] = host.diff
    module.exit_json(**result)


if __name__ == "__main__":
    main()
