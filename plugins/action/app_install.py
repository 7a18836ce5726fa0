# -*- coding: utf-8 -*-
# Copyright: wsfleet.deploy maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Carries a release's wheels (a folder on the controller) to the host as one tar archive, then
runs the app_install module with it: one transfer and one module call per host (and, on a host
that lacks the packages the virtualenv needs, apt and a second call)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import tarfile
import tempfile

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase
from ansible_collections.wsfleet.deploy.plugins.plugin_utils.prerequisites import (
    install_prerequisites,
)

MODULE = "wsfleet.deploy.app_install"


def pack_wheels(wheelhouse, archive_path):
    """A tar archive of the wheels of one folder, flat, as the module expects them."""
    with tarfile.open(archive_path, "w") as archive:
        for name in sorted(os.listdir(wheelhouse)):
            if name.endswith(".whl"):
                archive.add(os.path.join(wheelhouse, name), arcname=name)


class ActionModule(ActionBase):
    TRANSFERS_FILES = True

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super(ActionModule, self).run(tmp, task_vars)
        arguments = dict(self._task.args)
        wheelhouse = arguments.pop("wheelhouse", None)
        if self._play_context.check_mode:
            result.update(self._execute_module(MODULE, module_args=arguments, task_vars=task_vars))
            return result
        if not wheelhouse or not os.path.isdir(wheelhouse):
            raise AnsibleActionFail(
                "wheelhouse must be a folder of wheels on the controller: %r" % wheelhouse
            )

        remote_tmp = self._connection._shell.tmpdir or self._make_tmp_path()
        handle, local_archive = tempfile.mkstemp(suffix=".tar")
        os.close(handle)
        try:
            pack_wheels(wheelhouse, local_archive)
            remote_archive = self._connection._shell.join_path(remote_tmp, "wheels.tar")
            self._transfer_file(local_archive, remote_archive)
            self._fixup_perms2((remote_tmp, remote_archive))
            arguments["archive"] = remote_archive
            outcome = self._execute_module(MODULE, module_args=arguments, task_vars=task_vars)
            if outcome.get("needs") and not outcome.get("failed"):
                install_prerequisites(self._execute_module, outcome["needs"], task_vars)
                outcome = self._execute_module(MODULE, module_args=arguments, task_vars=task_vars)
                outcome["changed"] = True
            result.update(outcome)
        finally:
            os.unlink(local_archive)
            self._remove_tmp_path(remote_tmp)
        return result
