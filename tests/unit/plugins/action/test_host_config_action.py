"""The host_config action plugin: one module call on a host that has every prerequisite;
otherwise Ansible's apt, group and user modules, then a second call told what they changed."""

from unittest import mock

import pytest
from ansible.errors import AnsibleActionFail
from ansible.playbook.play_context import PlayContext
from ansible.playbook.task import Task
from ansible_collections.wsfleet.deploy.plugins.action.host_config import ActionModule

MODULE = "wsfleet.deploy.host_config"
ARGS = {"packages": ["nginx"], "files": [{"path": "/etc/nginx/nginx.conf", "content": "x"}]}
NEEDS = {
    "packages": ["nginx"],
    "absent_packages": [],
    "groups": [],
    "users": [{"name": "www-data", "groups": ["ssl-cert"], "append": True}],
}
DONE = {"changed": False, "changed_paths": [], "services": {}, "commands": []}


class Modules:
    """_execute_module: host_config answers from a list, in turn; the others from a table."""

    def __init__(self, host_config, others=None):
        self.host_config, self.others, self.calls = list(host_config), others or {}, []

    def __call__(self, module_name, module_args=None, task_vars=None):
        self.calls.append((module_name, dict(module_args)))
        if module_name == MODULE:
            return dict(self.host_config.pop(0))
        return dict(self.others.get(module_name, {"changed": True}))


def run_action(modules, check_mode=False):
    task = Task()
    task.action, task.args = MODULE, dict(ARGS)
    context = PlayContext()
    context.check_mode = check_mode
    connection = mock.MagicMock()
    connection._shell.tmpdir = None
    action = ActionModule(
        task, connection, context, loader=None, templar=None, shared_loader_obj=None
    )
    with mock.patch.object(ActionModule, "_execute_module", side_effect=modules):
        return action.run(task_vars={"inventory_hostname": "edge1"})


@pytest.mark.parametrize(
    "first",
    [
        dict(DONE),
        dict(DONE, changed=True, changed_paths=["/etc/nginx/nginx.conf"]),
        {"failed": True, "msg": "missing on the host: /etc/ssl/x.pem", "needs": NEEDS},
    ],
    ids=["nothing-to-do", "changed", "failed-with-needs"],
)
def test_a_host_with_every_prerequisite_costs_one_call(first):
    modules = Modules([first])
    result = run_action(modules)
    assert modules.calls == [(MODULE, ARGS)]
    assert {key: result[key] for key in first} == first
    assert "prerequisites" not in result


def test_missing_prerequisites_are_installed_then_the_module_runs_again():
    second = dict(DONE, changed=True, services={"nginx.service": ["reload"]})
    modules = Modules([dict(DONE, needs=NEEDS), second])
    result = run_action(modules)
    assert [name for name, _args in modules.calls] == [
        MODULE,
        "ansible.builtin.apt",
        "ansible.builtin.user",
        MODULE,
    ]
    assert modules.calls[-1][1] == dict(ARGS, prerequisites_changed=["packages", "users"])
    assert result["changed"] is True
    assert result["services"] == {"nginx.service": ["reload"]}
    assert result["prerequisites"] == NEEDS
    assert "needs" not in result


@pytest.mark.parametrize(
    ("others", "prerequisites_changed", "second_changed", "changed"),
    [
        ({}, ["packages", "users"], False, True),
        (
            {"ansible.builtin.apt": {"changed": False}, "ansible.builtin.user": {"changed": False}},
            [],
            False,
            False,
        ),
        ({"ansible.builtin.apt": {"changed": False}}, ["users"], False, True),
        (
            {"ansible.builtin.apt": {"changed": False}, "ansible.builtin.user": {"changed": False}},
            [],
            True,
            True,
        ),
    ],
    ids=["installed", "nothing-really-missing", "only-users", "module-changed"],
)
def test_changed_when_a_prerequisite_or_the_second_call_changed(
    others, prerequisites_changed, second_changed, changed
):
    modules = Modules([dict(DONE, needs=NEEDS), dict(DONE, changed=second_changed)], others)
    result = run_action(modules)
    assert modules.calls[-1][1]["prerequisites_changed"] == prerequisites_changed
    assert result["changed"] is changed


def test_check_mode_reports_the_needs_and_installs_nothing():
    first = dict(DONE, changed=True, needs=NEEDS, changed_paths=["/etc/nginx/nginx.conf"])
    modules = Modules([first])
    result = run_action(modules, check_mode=True)
    assert modules.calls == [(MODULE, ARGS)]
    assert result["needs"] == NEEDS
    assert result["changed"] is True


def test_still_missing_after_installing_them_fails():
    modules = Modules([dict(DONE, needs=NEEDS), dict(DONE, needs={"packages": ["nginx"]})])
    with pytest.raises(AnsibleActionFail, match="still missing after installing them"):
        run_action(modules)


def test_a_prerequisite_that_fails_stops_before_the_second_call():
    modules = Modules(
        [dict(DONE, needs=NEEDS)],
        {"ansible.builtin.apt": {"failed": True, "msg": "No package matching 'nginx'"}},
    )
    with pytest.raises(AnsibleActionFail, match="No package matching 'nginx'"):
        run_action(modules)
    assert [name for name, _args in modules.calls] == [MODULE, "ansible.builtin.apt"]
