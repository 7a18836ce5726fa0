"""The app_rollout action plugin: it runs the module with the task's arguments but report_dir,
and keeps the module's report on the controller when report_dir is given."""

import json
import os
from unittest import mock

import pytest
from ansible.errors import AnsibleActionFail
from ansible.playbook.play_context import PlayContext
from ansible.playbook.task import Task
from ansible_collections.wsfleet.deploy.plugins.action.app_rollout import ActionModule

MODULE_RESULT = {
    "changed": True,
    "outcome": "done",
    "release_after": "1.1.0-abc",
    "processes": [{"process": 1, "gate_passed": True}],
    "headline": "release 1.1.0-abc live (done, surge); 1 of 1 started processes passed",
    "report_lines": ["rollout start process 1: ? connections"],
    "invocation": {"module_args": {"name": "echo"}},
    "_ansible_no_log": False,
}


def run_action(args, result=None):
    """Run the plugin on a task with these arguments, the module returning result (default
    MODULE_RESULT); (the task's result, the module's arguments)."""
    task = Task()
    task.action, task.args = "wsfleet.deploy.app_rollout", dict(args)
    action = ActionModule(
        task, mock.MagicMock(), PlayContext(), loader=None, templar=None, shared_loader_obj=None
    )
    with mock.patch.object(
        ActionModule, "_execute_module", return_value=dict(result or MODULE_RESULT)
    ) as module:
        outcome = action.run(task_vars={"inventory_hostname": "app1"})
    return outcome, module.call_args.kwargs["module_args"]


def test_without_report_dir_it_only_runs_the_module(tmp_path):
    outcome, module_args = run_action({"name": "echo", "base_dir": "/srv/echo"})
    assert module_args == {"name": "echo", "base_dir": "/srv/echo"}
    assert outcome["outcome"] == "done"
    assert list(tmp_path.iterdir()) == []


def test_the_report_is_kept_on_the_controller_without_invocation_or_lines(tmp_path):
    report_dir = tmp_path / "reports" / "run1"
    outcome, module_args = run_action({"name": "echo", "report_dir": str(report_dir)})
    # The module never sees the controller's folder.
    assert module_args == {"name": "echo"}
    report = json.loads((report_dir / "app1.json").read_text())
    assert report == {
        "changed": True,
        "outcome": "done",
        "release_after": "1.1.0-abc",
        "processes": [{"process": 1, "gate_passed": True}],
    }
    assert oct(os.stat(report_dir / "app1.json").st_mode & 0o777) == "0o644"
    # Nothing half written is left beside it, and the task's own result is whole.
    assert [path.name for path in report_dir.iterdir()] == ["app1.json"]
    assert outcome["invocation"] == MODULE_RESULT["invocation"]
    assert outcome["report_lines"] == MODULE_RESULT["report_lines"]


def test_a_failed_rollout_is_kept_too(tmp_path):
    failed = dict(MODULE_RESULT, failed=True, outcome="rolled_back", msg="back on 1.0.0")
    outcome = run_action({"name": "echo", "report_dir": str(tmp_path)}, result=failed)[0]
    assert outcome["failed"] is True
    assert json.loads((tmp_path / "app1.json").read_text())["outcome"] == "rolled_back"


def test_a_report_dir_that_cannot_be_written_fails_the_task_naming_it(tmp_path):
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    with pytest.raises(AnsibleActionFail, match=r"could not keep the report in .*a-file"):
        run_action({"name": "echo", "report_dir": str(blocked / "reports")})
