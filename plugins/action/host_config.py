# -*- coding: utf-8 -*-
# Copyright: wsfleet.deploy maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Runs the host_config module; when it reports missing prerequisites (packages to install or
purge, groups or users to create), installs them with Ansible's own modules and runs it again.
On a host that has them all, the role's whole configuration costs one round trip."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

MODULE = "wsfleet.deploy.host_config"
# Package lists older than this are refreshed before an install.
APT_CACHE_VALID_SECONDS = 3600


def prerequisite_steps(needs):
    """(module, arguments, what it changes) for each missing prerequisite, in order: the
    packages to purge go before the ones to install (another router's, holding its ports)."""
    steps = []
    if needs.get("absent_packages"):
        steps.append(
            (
                "ansible.builtin.apt",
                dict(name=needs["absent_packages"], state="absent", purge=True),
                "packages",
            )
        )
    if needs.get("packages"):
        steps.append(
            (
                "ansible.builtin.apt",
                dict(
                    name=needs["packages"],
                    state="present",
                    update_cache=True,
                    cache_valid_time=APT_CACHE_VALID_SECONDS,
                ),
                "packages",
            )
        )
    for group in needs.get("groups") or []:
        steps.append(("ansible.builtin.group", dict(group), "users"))
    for user in needs.get("users") or []:
        arguments = dict((key, value) for key, value in user.items() if value is not None)
        if "home" in arguments:
            arguments["create_home"] = False
        steps.append(("ansible.builtin.user", arguments, "users"))
    return steps


class ActionModule(ActionBase):
    TRANSFERS_FILES = False

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super(ActionModule, self).run(tmp, task_vars)
        arguments = dict(self._task.args)
        first = self._execute_module(MODULE, module_args=arguments, task_vars=task_vars)
        if first.get("failed") or not first.get("needs") or self._play_context.check_mode:
            result.update(first)
            return result

        changed_keys = []
        for module, module_args, changes in prerequisite_steps(first["needs"]):
            outcome = self._execute_module(module, module_args=module_args, task_vars=task_vars)
            if outcome.get("failed"):
                raise AnsibleActionFail(
                    "%s %s failed: %s" % (module, module_args, outcome.get("msg", "")),
                    result=outcome,
                )
            if outcome.get("changed") and changes not in changed_keys:
                changed_keys.append(changes)

        second = self._execute_module(
            MODULE,
            module_args=dict(arguments, prerequisites_changed=changed_keys),
            task_vars=task_vars,
        )
        if second.get("needs") and not second.get("failed"):
            raise AnsibleActionFail(
                "still missing after installing them: %s" % second["needs"], result=second
            )
        result.update(second)
        result["changed"] = bool(second.get("changed") or changed_keys)
        result["prerequisites"] = first["needs"]
        return result
