"""The prerequisites an action plugin installs for its module: which Ansible module runs for
each missing package, group and user, in which order, and what the module is told changed."""

import pytest
from ansible.errors import AnsibleActionFail
from ansible_collections.wsfleet.deploy.plugins.plugin_utils.prerequisites import (
    install_prerequisites,
    prerequisite_steps,
)

# Package lists older than an hour are refreshed first.
INSTALL = dict(state="present", update_cache=True, cache_valid_time=3600)


@pytest.mark.parametrize(
    ("needs", "steps"),
    [
        ({}, []),
        ({"packages": [], "absent_packages": [], "groups": [], "users": []}, []),
        (
            {"packages": ["nginx", "ssl-cert"]},
            [("ansible.builtin.apt", dict(INSTALL, name=["nginx", "ssl-cert"]), "packages")],
        ),
        (
            # The other router's package goes first: it holds the ports the new one binds.
            {"packages": ["haproxy"], "absent_packages": ["nginx"]},
            [
                (
                    "ansible.builtin.apt",
                    {"name": ["nginx"], "state": "absent", "purge": True},
                    "packages",
                ),
                ("ansible.builtin.apt", dict(INSTALL, name=["haproxy"]), "packages"),
            ],
        ),
        (
            {"groups": [{"name": "echo", "system": True}, {"name": "ssl-cert", "system": False}]},
            [
                ("ansible.builtin.group", {"name": "echo", "system": True}, "users"),
                ("ansible.builtin.group", {"name": "ssl-cert", "system": False}, "users"),
            ],
        ),
        (
            # A new user: unset attributes are left out, and its home is named, not made.
            {
                "users": [
                    {
                        "name": "echo",
                        "group": "echo",
                        "groups": None,
                        "system": True,
                        "home": "/srv/echo",
                        "shell": "/usr/sbin/nologin",
                    }
                ]
            },
            [
                (
                    "ansible.builtin.user",
                    {
                        "name": "echo",
                        "group": "echo",
                        "system": True,
                        "home": "/srv/echo",
                        "create_home": False,
                        "shell": "/usr/sbin/nologin",
                    },
                    "users",
                )
            ],
        ),
        (
            # An existing user only gets the groups it lacks, appended; no home, no create_home.
            {"users": [{"name": "www-data", "groups": ["ssl-cert"], "append": True}]},
            [
                (
                    "ansible.builtin.user",
                    {"name": "www-data", "groups": ["ssl-cert"], "append": True},
                    "users",
                )
            ],
        ),
        (
            # Packages before groups (a package's group), groups before the users in them.
            {
                "users": [{"name": "echo", "group": "echo"}],
                "groups": [{"name": "echo", "system": True}],
                "packages": ["python3-venv"],
            },
            [
                ("ansible.builtin.apt", dict(INSTALL, name=["python3-venv"]), "packages"),
                ("ansible.builtin.group", {"name": "echo", "system": True}, "users"),
                ("ansible.builtin.user", {"name": "echo", "group": "echo"}, "users"),
            ],
        ),
    ],
    ids=[
        "nothing-said",
        "nothing-missing",
        "install",
        "purge-before-install",
        "groups",
        "new-user",
        "existing-user-groups",
        "packages-groups-users",
    ],
)
def test_steps_for_what_is_missing(needs, steps):
    assert prerequisite_steps(needs) == steps


def test_install_without_recommends():
    needs = {"packages": ["prometheus-node-exporter"]}
    (step,) = prerequisite_steps(needs, install_recommends=False)
    module, arguments, changes = step
    assert (module, changes) == ("ansible.builtin.apt", "packages")
    assert arguments["install_recommends"] is False


class Modules:
    """Stands in for an action plugin's _execute_module: results by module name."""

    def __init__(self, results):
        self.results, self.calls = results, []

    def __call__(self, module, module_args=None, task_vars=None):
        self.calls.append((module, module_args, task_vars))
        return dict(self.results.get(module, {"changed": True}))


NEEDS = {
    "absent_packages": ["nginx"],
    "packages": ["haproxy"],
    "groups": [{"name": "ssl-cert", "system": True}],
    "users": [{"name": "haproxy", "groups": ["ssl-cert"], "append": True}],
}


@pytest.mark.parametrize(
    ("results", "changed"),
    [
        ({}, ["packages", "users"]),
        ({"ansible.builtin.apt": {"changed": False}}, ["users"]),
        (
            {"ansible.builtin.group": {"changed": False}, "ansible.builtin.user": {}},
            ["packages"],
        ),
        (
            {
                "ansible.builtin.apt": {"changed": False},
                "ansible.builtin.group": {"changed": False},
                "ansible.builtin.user": {"changed": False},
            },
            [],
        ),
    ],
    ids=["all-changed", "apt-unchanged", "users-unchanged", "none-changed"],
)
def test_what_changed_is_reported_once_per_kind(results, changed):
    modules = Modules(results)
    assert install_prerequisites(modules, NEEDS, {"inventory_hostname": "edge1"}) == changed
    # Every step ran, in order, with the task's variables.
    assert [call[0] for call in modules.calls] == [
        "ansible.builtin.apt",
        "ansible.builtin.apt",
        "ansible.builtin.group",
        "ansible.builtin.user",
    ]
    assert all(call[2] == {"inventory_hostname": "edge1"} for call in modules.calls)


def test_a_failed_step_stops_with_its_message_and_runs_nothing_after():
    modules = Modules({"ansible.builtin.group": {"failed": True, "msg": "groupadd: denied"}})
    with pytest.raises(AnsibleActionFail, match=r"ansible\.builtin\.group .*groupadd: denied"):
        install_prerequisites(modules, NEEDS, {})
    assert [call[0] for call in modules.calls][-1] == "ansible.builtin.group"
    assert "ansible.builtin.user" not in [call[0] for call in modules.calls]


def test_nothing_missing_runs_nothing():
    modules = Modules({})
    assert install_prerequisites(modules, {"packages": [], "users": []}, {}) == []
    assert modules.calls == []
