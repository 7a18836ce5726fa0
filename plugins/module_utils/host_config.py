# -*- coding: utf-8 -*-
# Copyright: wsfleet.deploy maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""What the host_config module decides, kept apart from what it does to the host: which
prerequisites are missing, what differs in a file, and what each service needs after a change.
Pure functions over plain data, so each decision is tested by a table of cases."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import shlex

# Changing a file here makes systemd read its units again before any service is touched.
SYSTEMD_PATHS = ("/etc/systemd/system/", "/lib/systemd/system/", "/usr/lib/systemd/system/")


def installed_packages(run_command, names):
    """The names among `names` that dpkg has installed (run_command: AnsibleModule's)."""
    if not names:
        return set()
    _rc, out, _err = run_command(["dpkg-query", "-W", "-f", "${Package} ${Status}\\n", *names])
    # dpkg-query exits 1 when it knows some of the names not at all: those are missing.
    return set(
        line.split()[0] for line in out.splitlines() if line.endswith(" install ok installed")
    )


def missing_packages(wanted, installed):
    """The wanted packages dpkg does not have installed, in the order asked."""
    return [name for name in wanted if name not in installed]


def present_packages(unwanted, installed):
    """The packages asked to be absent that dpkg has installed."""
    return [name for name in unwanted if name in installed]


def missing_groups(wanted, existing):
    """The groups to create: {name, system} entries whose name does not exist."""
    return [group for group in wanted if group["name"] not in existing]


def user_needs(user, accounts, memberships):
    """What a user entry needs: None, or the entry to pass to ansible.builtin.user.

    accounts: names of existing users; memberships: {group: [member names]} from the group
    database. A user that exists is only ever given the supplementary groups it lacks (append):
    its other attributes are the distribution's or the administrator's."""
    name = user["name"]
    wanted_groups = user.get("groups") or []
    if name not in accounts:
        return dict(user)
    lacking = [group for group in wanted_groups if name not in memberships.get(group, ())]
    if not lacking:
        return None
    return {"name": name, "groups": lacking, "append": True}


def mode_string(mode):
    """An octal mode as '0644', whatever form it was given in ('644', '0644', 420)."""
    if mode is None:
        return None
    if isinstance(mode, int):
        return "%04o" % mode
    return "%04o" % int(str(mode), 8)


def file_differences(wanted, current):
    """The attributes of a file or directory that differ: a list of names among 'state',
    'content', 'mode', 'owner', 'group'.

    wanted: {content (files only), mode, owner, group}; None entries are left as they are.
    current: None when the path does not exist (or is of another kind), else the same keys as
    the host has them."""
    if current is None:
        return ["state"]
    differences = []
    if wanted.get("content") is not None and wanted["content"] != current.get("content"):
        differences.append("content")
    if wanted.get("mode") is not None and mode_string(wanted["mode"]) != mode_string(
        current.get("mode")
    ):
        differences.append("mode")
    for attribute in ("owner", "group"):
        if wanted.get(attribute) is not None and wanted[attribute] != current.get(attribute):
            differences.append(attribute)
    return differences


def needs_daemon_reload(changed_paths):
    """Whether a changed path is a systemd unit or drop-in: systemd must read them again."""
    return any(path.startswith(SYSTEMD_PATHS) for path in changed_paths)


def touched(keys, changed):
    """Whether any of the keys (paths, or a folder and what is under it) is among the changed."""
    for key in keys or ():
        folder = key.rstrip("/") + "/"
        if any(item == key or item.startswith(folder) for item in changed):
            return True
    return False


def service_actions(service, active, enabled, changed):
    """What one service needs, in order: among 'enable', 'disable', 'start', 'stop',
    'restart', 'reload'.

    service: {name, state (started, stopped or None), enabled (bool or None), reload_on,
    restart_on}; active, enabled: what systemd says now; changed: the paths (and prerequisite
    keys) this run changed. A service that is started now gets no reload or restart too: it
    reads everything as it starts."""
    actions = []
    if service.get("enabled") is True and not enabled:
        actions.append("enable")
    elif service.get("enabled") is False and enabled:
        actions.append("disable")
    state = service.get("state")
    if state == "stopped":
        if active:
            actions.append("stop")
        return actions
    if not active:
        if state == "started":
            actions.append("start")
        return actions
    if touched(service.get("restart_on"), changed):
        actions.append("restart")
    elif touched(service.get("reload_on"), changed):
        actions.append("reload")
    return actions


def commands_to_run(commands, changed, exists=os.path.lexists):
    """The commands whose condition holds: those with `creates` whose path does not exist, and
    those with `when_changed` when one of its paths changed. A command with neither always
    runs."""
    chosen = []
    for command in commands:
        if command.get("creates") and exists(command["creates"]):
            continue
        if command.get("when_changed") and not touched(command["when_changed"], changed):
            continue
        chosen.append(command)
    return chosen


def validate_argv(validate, path):
    """The validation command for a file about to replace another: '%s' names the new file."""
    if "%s" not in validate:
        raise ValueError("validate must contain %%s for the file to check: %r" % validate)
    return [part.replace("%s", path) for part in shlex.split(validate)]


def file_diff(path, before, after):
    """An entry of Ansible's diff list for one file."""
    return {
        "before_header": path,
        "after_header": path,
        "before": before if before is not None else "",
        "after": after,
    }
