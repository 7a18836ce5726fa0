# -*- coding: utf-8 -*-
# Copyright: wsfleet.deploy maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Runs the host_config module: first renders the files given by a template, on the controller;
when the module reports missing prerequisites (packages to install or purge, groups or users to
create), installs them with Ansible's own modules and runs it again. On a host that has them
all, the role's whole configuration costs one round trip."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase
from ansible_collections.wsfleet.deploy.plugins.plugin_utils.prerequisites import (
    install_prerequisites,
)
from ansible_collections.wsfleet.deploy.plugins.plugin_utils.templates import TemplateRenderer

MODULE = "wsfleet.deploy.host_config"
FILE_LISTS = ("files", "secret_files")


class ActionModule(ActionBase):
    TRANSFERS_FILES = False

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super(ActionModule, self).run(tmp, task_vars)
        arguments = self.rendered_arguments(dict(self._task.args), task_vars)
        first = self._execute_module(MODULE, module_args=arguments, task_vars=task_vars)
        if first.get("failed") or not first.get("needs") or self._play_context.check_mode:
            result.update(first)
            return result

        changed_keys = install_prerequisites(
            self._execute_module,
            first["needs"],
            task_vars,
            install_recommends=arguments.get("install_recommends", True),
        )
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

    def rendered_arguments(self, arguments, task_vars):
        """The arguments with every file given by a template given by its content."""
        entries = [entry for key in FILE_LISTS for entry in arguments.get(key) or []]
        if not any(entry.get("template") for entry in entries):
            return arguments
        renderer = TemplateRenderer(self._find_needle, self.read_text, self._templar, task_vars)
        for key in FILE_LISTS:
            if arguments.get(key):
                arguments[key] = renderer.render_files(arguments[key])
        return arguments

    def read_text(self, path):
        if hasattr(self._loader, "get_text_file_contents"):  # ansible-core 2.19 and later
            return self._loader.get_text_file_contents(path)
        return self._loader._get_file_contents(path)[0].decode("utf-8")
