"""Bad input at every door: every option of every role, and the rollout settings, refused
before any host changes, with the variable named.

The role cases come from the roles' argument specs, so that a new option cannot skip this:
each option gets a value its type (or its choices) cannot take, on a host of its own, and
the role's `preflight` entry point (what playbooks/preflight.yml runs on every host before
site.yml or deploy.yml change one) must refuse it. The options of earlier versions, renamed
or gone, are refused too, naming what to use instead. The hosts are the controller itself
(connection local): preflight changes nothing, and nothing here needs the fleet.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

PROJECT = Path(__file__).resolve().parents[2]
ROLES_DIR = PROJECT / "roles"
ANSIBLE_PLAYBOOK = str(Path(sys.executable).parent / "ansible-playbook")

# A value each type cannot take. Plain strings and paths take any value: their own checks
# (patterns, files) are the role's asserts, tested with the roles.
BAD_VALUE_BY_TYPE = {
    "int": "many",
    "float": "lots",
    "bool": "perhaps",
    "list": {"not": "a list"},
    "dict": "not a mapping",
}
NOT_A_CHOICE = "no-such-choice"

PREFLIGHT_PLAY = """
- name: Run each case's role preflight
  hosts: cases
  gather_facts: false
  tasks:
    - name: Check the case's inputs
      block:
        - name: Run the role's preflight
          ansible.builtin.include_role:
            name: "wsfleet.deploy.{{ case_role }}"
            tasks_from: preflight
        - name: Note that the input was accepted
          ansible.builtin.set_fact:
            case_outcome: accepted
      rescue:
        - name: Note why the input was refused
          ansible.builtin.set_fact:
            case_outcome: "{{ ansible_failed_result.msg | default('refused') }}"
      always:
        - name: Keep the outcome for the test
          ansible.builtin.copy:
            content: "{{ case_outcome }}"
            dest: "{{ case_outcomes }}/{{ inventory_hostname }}"
            mode: "0644"
"""


def argument_specs(role):
    specs = yaml.safe_load((ROLES_DIR / role / "meta" / "argument_specs.yml").read_text())
    return specs["argument_specs"]


# The routers' own options are checked by the router role's preflight, for the router chosen.
CHECKED_BY = {"nginx": "router", "haproxy": "router"}


def role_cases():
    """(role, option, bad value, other settings) for every option whose type or choices can
    refuse a value: the role whose preflight checks it, and what makes it check that option."""
    cases = []
    for role in sorted(path.name for path in ROLES_DIR.iterdir() if (path / "meta").is_dir()):
        checker = CHECKED_BY.get(role, role)
        preflight = ROLES_DIR / checker / "tasks" / "preflight.yml"
        assert preflight.exists(), f"roles/{checker} has no preflight entry point"
        others = {"wsfleet_router": role} if checker != role else {}
        # fleet and router have no main: their preflight's options are the role's.
        specs = argument_specs(role)
        for option, spec in sorted(specs.get("main", specs.get("preflight"))["options"].items()):
            if spec.get("choices"):
                cases.append((checker, option, NOT_A_CHOICE, others))
            elif spec["type"] in BAD_VALUE_BY_TYPE:
                cases.append((checker, option, BAD_VALUE_BY_TYPE[spec["type"]], others))
    return cases


EXAMPLE_APP = str(PROJECT / "examples" / "echo_app")
# Values of the right type that the roles' own checks refuse: (role, option, bad, with these).
CHECKED_CASES = [
    ("app", "wsfleet_app_tcp_side_port_base", 8001, {"wsfleet_app_bind": "tcp"}),
    ("app", "wsfleet_app_tcp_side_port_base", 65535, {"wsfleet_app_bind": "tcp"}),
    ("app", "wsfleet_app_tcp_address", "localhost", {"wsfleet_app_bind": "tcp"}),
    ("app", "wsfleet_app_processes", 0, {}),
    ("app", "wsfleet_app_max_connections", 0, {}),
    # The drain must end before systemd kills: the message names the limit it breaks.
    ("app", "wsfleet_app_stop_timeout", 30, {"wsfleet_app_drain_timeout": 40}),
    ("app", "wsfleet_app_source_path", "/nonexistent/app", {}),
    ("app", "wsfleet_app_name", "Bad Name", {}),
    ("app", "wsfleet_app_keep_releases", 1, {}),
    (
        "app",
        "wsfleet_app_environment",
        {"WSFLEET_SOCKET": "/tmp/x"},
        {"wsfleet_app_source_path": EXAMPLE_APP},
    ),
    ("app", "wsfleet_app_source_git_url", "", {"wsfleet_app_source": "git"}),
    ("router", "wsfleet_router_listen_port", 70000, {}),
    ("router", "wsfleet_router_acme_port", 80, {}),
    ("router", "wsfleet_router_allowed_origins", ["chat.example.com/path"], {}),
    ("router", "wsfleet_router_private_paths", ["metrics"], {}),
    ("router", "wsfleet_router_metrics_port", 80, {}),
    ("router", "wsfleet_router_metrics_port", 70000, {}),
    ("firewall", "wsfleet_firewall_metrics_ports", [70000], {}),
    ("firewall", "wsfleet_firewall_metrics_ports", [80], {"wsfleet_firewall_ports": [80]}),
    ("firewall", "wsfleet_firewall_metrics_allowed_sources", ["prometheus.example.com"], {}),
    ("exporters", "wsfleet_exporters_node_port", 9180, {}),
    ("exporters", "wsfleet_exporters_nginx_port", 70000, {}),
    ("exporters", "wsfleet_exporters_node_systemd_units", "echo@.+\\.service", {}),
    ("capacity", "wsfleet_capacity_slot", 0, {}),
    ("capacity", "wsfleet_capacity_profile", {"messages_per_second": 0}, {}),
    ("capacity", "wsfleet_capacity_profile", {"path": "work"}, {}),
    ("capacity", "wsfleet_capacity_steps", {"start": 100, "factor": 1}, {}),
    ("capacity", "wsfleet_capacity_headroom", 1.0, {}),
    ("capacity", "wsfleet_capacity_spare_hosts", -1, {}),
    ("fleet", "wsfleet_rolling_serial", "0", {}),
    ("fleet", "wsfleet_edge_hosts", "app", {}),
    ("fleet", "wsfleet_check_path", "ws", {}),
    ("fleet", "wsfleet_check_path", "/ws#top", {}),
    ("fleet", "wsfleet_check_expect", "(unclosed", {}),
]

# Options of earlier versions, with what replaces them: (role, old option, a value, new name).
RENAMED_CASES = [
    ("router", "wsfleet_nginx_tls", "acme", "wsfleet_router_tls"),
    ("router", "wsfleet_haproxy_tls_port", 8443, "wsfleet_router_tls_port"),
    ("router", "wsfleet_nginx_proxy_read_timeout", 600, "wsfleet_router_idle_timeout"),
    ("router", "wsfleet_haproxy_hard_stop_after", 60, "wsfleet_router_shutdown_timeout"),
    ("router", "wsfleet_nginx_edge_group", "edge", "wsfleet_router_trusted_proxies"),
    ("certbot", "wsfleet_certbot_webroot", "/var/lib/wsfleet/acme", "wsfleet_router_acme_port"),
    ("certbot", "wsfleet_certbot_router", "nginx", "wsfleet_router"),
]

CASES = (
    role_cases()
    + CHECKED_CASES
    + [(role, old, value, {}) for role, old, value, _new in RENAMED_CASES]
)


def local_host(**host_vars):
    return {
        "ansible_connection": "local",
        "ansible_python_interpreter": sys.executable,
        **host_vars,
    }


def run_playbook(playbook, inventory, *options):
    environment = {**os.environ, "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORKS": "25"}
    return subprocess.run(
        [ANSIBLE_PLAYBOOK, "-i", str(inventory), str(playbook), *options],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        cwd=PROJECT,
        env=environment,
    )


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory):
    """What each role case's preflight said, by case index."""
    folder = tmp_path_factory.mktemp("bad-input")
    results = folder / "outcomes"
    results.mkdir()
    hosts = {
        f"case{index:03d}": local_host(
            case_role=role, case_outcomes=str(results), **{option: bad}, **others
        )
        for index, (role, option, bad, others) in enumerate(CASES)
    }
    inventory = folder / "inventory.json"
    inventory.write_text(json.dumps({"cases": {"hosts": hosts}}))
    playbook = folder / "preflight.yml"
    playbook.write_text(PREFLIGHT_PLAY)
    run = run_playbook(playbook, inventory)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    return {int(path.name[4:]): path.read_text() for path in results.iterdir()}


@pytest.mark.parametrize(("role", "old", "value", "new"), RENAMED_CASES)
def test_an_option_of_an_earlier_version_names_the_one_to_use(outcomes, role, old, value, new):
    index = CASES.index((role, old, value, {}))
    assert old in outcomes[index] and new in outcomes[index], outcomes[index]


def test_every_role_has_cases():
    # Every role has options its types refuse; a role that loses them all would be odd.
    checked = {case[1].split("_")[1] for case in CASES if case[1].startswith("wsfleet_")}
    roles = {path.name for path in ROLES_DIR.iterdir() if (path / "meta").is_dir()}
    # The fleet role's options are the fleet's shared settings, named without its name.
    assert roles - {"fleet"} <= checked
    assert {case[0] for case in CASES} >= {"fleet"}


@pytest.mark.parametrize(
    ("index", "role", "option", "bad"),
    [(index, *case[:3]) for index, case in enumerate(CASES)],
    ids=[f"{case[0]}-{case[1]}-{case[2]}" for case in CASES],
)
def test_a_bad_value_is_refused_naming_the_variable(outcomes, index, role, option, bad):
    outcome = outcomes[index]
    assert outcome != "accepted", f"{option}={bad!r} passed the {role} preflight"
    assert option in outcome, outcome


@pytest.mark.parametrize(
    ("variable", "bad"),
    [
        ("wsfleet_rolling_serial", "half"),
        ("wsfleet_rolling_serial", "0"),
        ("wsfleet_rolling_canary", "perhaps"),
        ("wsfleet_rolling_max_fail_percentage", "150"),
    ],
)
def test_bad_rollout_settings_stop_the_rollout_before_any_host(tmp_path, variable, bad):
    inventory = tmp_path / "inventory.json"
    inventory.write_text(json.dumps({"app": {"hosts": {"app1": local_host()}}}))
    run = run_playbook(
        PROJECT / "playbooks" / "rolling_restart.yml",
        inventory,
        "--extra-vars",
        json.dumps({variable: bad}),
    )
    assert run.returncode != 0
    output = run.stdout + run.stderr
    assert variable in output
    # The rollout play itself never began.
    assert "Roll this host out" not in output
