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
from ansible_collections.wsfleet.deploy.plugins.plugin_utils.prerequisites import (
    install_prerequisites,
)

MODULE = "wsfleet.deploy.host_config"


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

        changed_keys = install_prerequisites(self._execute_module, first["needs"], task_vars)
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
