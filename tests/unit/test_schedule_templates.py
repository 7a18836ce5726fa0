"""The schedule role's service: the command line each runner gives systemd, word by word."""

import shlex
from pathlib import Path

import pytest
from ansible.plugins.filter.core import comment
from jinja2 import Environment, FileSystemLoader

TEMPLATES = Path(__file__).resolve().parents[2] / "roles" / "schedule" / "templates"
DEFAULTS = {
    "ansible_managed": "Ansible managed",
    "wsfleet_schedule_name": "rolling-restart",
    "wsfleet_schedule_playbook": "wsfleet.deploy.rolling_restart",
    "wsfleet_schedule_inventory": "/opt/control/hosts.yml",
    "wsfleet_schedule_ansible_playbook": "/opt/venv/bin/ansible-playbook",
    "wsfleet_schedule_extra_args": ["--extra-vars", "wsfleet_rolling_serial=50% of it"],
    "wsfleet_schedule_user": "root",
    "wsfleet_schedule_working_directory": "/opt/control",
    "wsfleet_schedule_environment": {"ANSIBLE_CONFIG": "/opt/control/ansible.cfg"},
    "wsfleet_schedule_runner": "ansible-playbook",
    "wsfleet_schedule_image": "",
    "wsfleet_schedule_image_archive": "",
    "wsfleet_schedule_podman": "/usr/bin/podman",
    "wsfleet_schedule_podman_args": [],
}
PLAYBOOK_ARGS = [
    "-i",
    "/opt/control/hosts.yml",
    "wsfleet.deploy.rolling_restart",
    "--extra-vars",
    "wsfleet_rolling_serial=50% of it",
]


def service(**settings):
    environment = Environment(loader=FileSystemLoader(TEMPLATES))
    environment.filters["comment"] = comment
    return environment.get_template("schedule.service.j2").render(**(DEFAULTS | settings))


def exec_start(text):
    """ExecStart's words as systemd reads them (no $ in these values; %% is one %)."""
    line = next(line for line in text.splitlines() if line.startswith("ExecStart="))
    return shlex.split(line.removeprefix("ExecStart=").replace("%%", "%"))


def option_values(words, option):
    return [words[index + 1] for index, word in enumerate(words) if word == option]


def test_the_ansible_playbook_runner_runs_the_control_hosts_ansible_playbook():
    words = exec_start(service())
    assert words == ["/opt/venv/bin/ansible-playbook", *PLAYBOOK_ARGS]


@pytest.mark.parametrize(
    ("archive", "pull"),
    [("", "missing"), ("/srv/images/ee.tar", "never")],
)
def test_the_podman_runner_runs_the_images_ansible_playbook(archive, pull):
    text = service(
        wsfleet_schedule_runner="podman",
        wsfleet_schedule_image="localhost/wsfleet-deploy-ee:0.1.0",
        wsfleet_schedule_image_archive=archive,
        wsfleet_schedule_podman_args=["--dns", "10.0.0.53"],
    )
    words = exec_start(text)
    image = words.index("localhost/wsfleet-deploy-ee:0.1.0")
    assert words[:2] == ["/usr/bin/podman", "run"]
    assert words[image + 1 :] == ["ansible-playbook", *PLAYBOOK_ARGS]
    assert option_values(words, "--pull") == [pull]
    assert option_values(words, "--network") == ["host"]
    assert option_values(words, "--dns") == ["10.0.0.53"]
    assert option_values(words, "--volume") == [
        "/opt/control:/opt/control:ro",
        "/opt/control/hosts.yml:/opt/control/hosts.yml:ro",
    ]
    assert option_values(words, "--workdir") == ["/opt/control"]
    # Each variable's value stays in the unit's environment; podman passes it in by name.
    assert option_values(words, "--env") == ["ANSIBLE_NOCOLOR", "ANSIBLE_CONFIG"]
    assert 'Environment="ANSIBLE_CONFIG=/opt/control/ansible.cfg"' in text
