# -*- coding: utf-8 -*-
# Copyright: wsfleet.deploy maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Runs the app_rollout module on the host, then keeps its report on the controller when
asked (option report_dir): written here, in the controller's own process, it costs the
rollout no task and no round trip."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.text.converters import to_native
from ansible.plugins.action import ActionBase
from ansible_collections.wsfleet.deploy.plugins.module_utils.releases import write_json_whole

# What a run returns that is not the rollout's report: the lines the play prints are made of
# the report's fields, and the kept report stays as on the host.
NOT_REPORTED = ("invocation", "headline", "report_lines")


def report_of(result):
    """The module's result as the report a caller keeps: no invocation, no printed lines, no
    Ansible internals."""
    return dict(
        (key, value)
        for key, value in result.items()
        if key not in NOT_REPORTED and not key.startswith("_ansible")
    )


def keep_report(report_dir, host, report):
    """Write <report_dir>/<host>.json whole."""
    # Hosts of one batch run in parallel processes: any of them may create the folder first.
    os.makedirs(report_dir, 0o755, exist_ok=True)
    write_json_whole(os.path.join(report_dir, "%s.json" % host), report, indent=4)


class ActionModule(ActionBase):
    TRANSFERS_FILES = False

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super(ActionModule, self).run(tmp, task_vars)
        module_args = dict(self._task.args)
        report_dir = module_args.pop("report_dir", None)
        result.update(
            self._execute_module(
                module_name="wsfleet.deploy.app_rollout",
                module_args=module_args,
                task_vars=task_vars,
            )
        )
        if report_dir:
            host = task_vars.get("inventory_hostname", self._play_context.remote_addr)
            try:
                keep_report(os.path.expanduser(report_dir), host, report_of(result))
            except (IOError, OSError) as exc:
                raise AnsibleActionFail(
                    "could not keep the report in %s: %s" % (report_dir, to_native(exc)),
                    result=result,
                ) from exc
        return result
