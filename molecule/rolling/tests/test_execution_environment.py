"""The execution environment image (ee/), built here and used as a team that runs Ansible from
images would: ansible-navigator runs site.yml, a deploy and a rollback under live load and the
smoke test from it, out of a project folder of the user's own (inventory, SSH key, app source) that
holds no copy of the collection; and a control host's timer runs a rolling restart from it with
podman, its result left in the journal.

The steps depend on each other: tests of one module, run in file order.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from wsfleet_support.checks import app
from wsfleet_support.checks.edge import remote
from wsfleet_support.checks.live_load import assert_nothing_dropped, live_clients
from wsfleet_support.checks.playbooks import PROJECT, run_ok
from wsfleet_support.fleet import molecule_fleet
from wsfleet_support.playbooks import PLAIN_OUTPUT, Completed, changed_counts, run_timed

APPS = app.hosts_of("app")
CLIENTS = 300
NAVIGATOR = str(Path(sys.executable).parent / "ansible-navigator")
# podman on this kind of machine needs runc and explicit limits (docs/execution-environment.md).
CONTAINERS_CONF = PROJECT / "fleet" / "containers.conf"
TIMEOUT_SECONDS = 900
# The variables the scenarios' hosts were converged with, from molecule's shared settings.
MOLECULE_SETTINGS = PROJECT / ".config" / "molecule" / "config.yml"
PROJECT_VARIABLE = "${MOLECULE_PROJECT_DIRECTORY}/"
# When a timer last started its service (0 if never).
TRIGGERED = "LastTriggerUSecMonotonic"


@pytest.fixture(scope="module")
def ee_image():
    """The image's tag: built by `python ee/build.py`, or reused when nothing changed."""
    result = subprocess.run(
        [sys.executable, str(PROJECT / "ee" / "build.py")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return result.stdout.split()[-1]


def own_copy(value, folder):
    """A setting that names a file or folder of this checkout names a copy of it in the user's
    folder instead: nothing the image runs comes from the checkout."""
    if not isinstance(value, str) or not value.startswith(PROJECT_VARIABLE):
        return value
    source = PROJECT / value.removeprefix(PROJECT_VARIABLE)
    copy = folder / source.name
    if source.is_dir():
        shutil.copytree(source, copy, ignore=shutil.ignore_patterns("dist", "__pycache__"))
    else:
        shutil.copy(source, copy)
    return str(copy)


def as_molecule_reads(value):
    """A setting as molecule hands it to Ansible: $$ in its files is a $ ($ starts a variable)."""
    return value.replace("$$", "$") if isinstance(value, str) else value


def user_inventory(folder):
    """The scenario's hosts and settings as a user's own inventory: addresses, the fleet's SSH
    key and host keys copied in, the same variables the fleet was converged with."""
    fleet = molecule_fleet()
    shutil.copy(fleet.ssh_key, folder / "id_ed25519")
    shutil.copy(fleet.known_hosts, folder / "known_hosts")
    settings = yaml.safe_load(MOLECULE_SETTINGS.read_text())
    variables = settings["provisioner"]["inventory"]["group_vars"]["all"]
    variables = {
        name: own_copy(as_molecule_reads(value), folder) for name, value in variables.items()
    }
    variables |= {
        # Written out as a user writes them: molecule's settings look them up in the checkout.
        "wsfleet_edge_floating_addresses": fleet.network("public").get("floating", []),
        # The controller, where the tests run: it reaches the app hosts' router (on the private
        # network) and the metrics ports (on each network).
        "wsfleet_firewall_allowed_sources": [fleet.network("private")["gateway"]],
        "wsfleet_firewall_metrics_allowed_sources": [
            fleet.network(kind)["gateway"] for kind in ("public", "private")
        ],
        "ansible_user": "root",
        "ansible_ssh_private_key_file": str(folder / "id_ed25519"),
        "ansible_ssh_common_args": f"-o UserKnownHostsFile={folder / 'known_hosts'}"
        " -o StrictHostKeyChecking=yes",
    }
    groups = {}
    for host in fleet.hosts():
        groups.setdefault(host["group"], {"hosts": {}})["hosts"][host["name"]] = {
            "ansible_host": host["address"]
        }
    return {"all": {"vars": variables, "children": groups}}


def navigator_settings(image):
    """ansible-navigator's settings: stdout mode, the image as built (never pulled), the host's
    network. Where this controller's pip trusts its own CA bundle (PIP_CERT), the image's pip,
    which builds the app's wheels, is given the same bundle."""
    environment = {"set": {"ANSIBLE_NOCOLOR": "1"}}
    mounts = []
    if os.environ.get("PIP_CERT"):
        environment["pass"] = ["PIP_CERT"]
        mounts.append(
            {"src": os.environ["PIP_CERT"], "dest": os.environ["PIP_CERT"], "options": "ro"}
        )
    return {
        "ansible-navigator": {
            "mode": "stdout",
            "playbook-artifact": {"enable": False},
            "logging": {"level": "warning"},
            "execution-environment": {
                "enabled": True,
                "container-engine": "podman",
                "image": image,
                "pull": {"policy": "never"},
                "container-options": ["--network=host"],
                "environment-variables": environment,
                "volume-mounts": mounts,
            },
        }
    }


@pytest.fixture(scope="module")
def user_folder(tmp_path_factory, ee_image):
    """A project folder as a user of the image keeps one: inventory, SSH key, app source and
    ansible-navigator.yml, and no collection."""
    folder = tmp_path_factory.mktemp("ee-user")
    (folder / "hosts.yml").write_text(yaml.safe_dump(user_inventory(folder)))
    (folder / "ansible-navigator.yml").write_text(yaml.safe_dump(navigator_settings(ee_image)))
    (folder / "ansible.cfg").write_text(
        "[defaults]\ninventory = hosts.yml\nforks = 25\n[ssh_connection]\npipelining = true\n"
    )
    return folder


def navigator_run(folder, playbook, *options) -> Completed:
    return run_timed(
        [NAVIGATOR, "run", playbook, *options],
        env={**PLAIN_OUTPUT, "CONTAINERS_CONF": str(CONTAINERS_CONF)},
        timeout=TIMEOUT_SECONDS,
        check=False,
        cwd=folder,
    )


def navigator_ok(folder, playbook, *options) -> Completed:
    result = navigator_run(folder, playbook, *options)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    return result


def test_the_image_holds_the_collection_and_ansible_core(ee_image):
    listed = subprocess.run(
        ["podman", "run", "--rm", ee_image, "ansible-galaxy", "collection", "list"],
        env={**os.environ, "CONTAINERS_CONF": str(CONTAINERS_CONF)},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert re.search(r"wsfleet\.deploy\s+\d+\.\d+\.\d+", listed)
    assert "/usr/share/ansible/collections" in listed


def test_site_from_the_image_changes_nothing_on_a_converged_fleet(user_folder):
    result = navigator_ok(user_folder, "wsfleet.deploy.site")
    counts = changed_counts(result.stdout)
    assert sorted(counts) == sorted(APPS + app.hosts_of("edge") + app.hosts_of("monitoring"))
    assert set(counts.values()) == {0}, result.stdout[-3000:]


def test_a_deploy_from_the_image_under_load_drops_nobody(user_folder, tmp_path_factory):
    """A new release, its wheels built inside the image, rolled out under live clients."""
    source = user_folder / "echo_app-1.0.1"
    shutil.copytree(app.example_app_at_version(tmp_path_factory, "1.0.1"), source)
    with live_clients(CLIENTS) as (reports, _runner):
        navigator_ok(
            user_folder,
            "wsfleet.deploy.deploy",
            "--extra-vars",
            json.dumps({"wsfleet_app_source_path": str(source)}),
        )
    assert_nothing_dropped(reports[0])
    for name in APPS:
        assert app.current_release(remote(name)).startswith("1.0.1-")
        assert app.versions_served(name) == {"1.0.1"}


def test_a_rollback_from_the_image_under_load_drops_nobody(user_folder):
    with live_clients(CLIENTS) as (reports, _runner):
        navigator_ok(user_folder, "wsfleet.deploy.rollback")
    assert_nothing_dropped(reports[0])
    for name in APPS:
        assert app.current_release(remote(name)).startswith("1.0.0-")
        assert app.versions_served(name) == {"1.0.0"}


def test_the_smoke_test_passes_from_the_image(user_folder):
    shutil.copy(molecule_fleet().acme_root(), user_folder / "acme-root.pem")
    result = navigator_ok(
        user_folder,
        "wsfleet.deploy.smoke_test",
        "--extra-vars",
        json.dumps({"wsfleet_smoke_test_ca_path": str(user_folder / "acme-root.pem")}),
    )
    assert re.search(r"edge1\s+: ok=\d+\s+changed=0\s+unreachable=0\s+failed=0", result.stdout)


def fire_timer_soon(control, seconds=5):
    """Move the installed timer's next run a few seconds ahead (a runtime drop-in, gone at the
    next boot): the timer itself then starts the service, as it will on its calendar."""
    fire_at = int(control.check_output("date +%s")) + seconds
    when = control.check_output(f"date -d @{fire_at} '+%Y-%m-%d %H:%M:%S'")
    drop_in = "/run/systemd/system/wsfleet-rolling-restart.timer.d"
    control.check_output(
        f"mkdir -p {drop_in} && printf '[Timer]\\nOnCalendar=\\nOnCalendar={when}\\n"
        f"AccuracySec=1s\\n' > {drop_in}/soon.conf && systemctl daemon-reload"
        " && systemctl restart wsfleet-rolling-restart.timer"
    )


def unit_property(host, unit, name):
    return host.check_output(f"systemctl show -p {name} --value {unit}")


def wait_for_the_timer_run(control, triggered_before, timeout=300):
    """Wait until the timer has fired again and the service it started has ended."""
    deadline = time.monotonic() + timeout
    timer, service = "wsfleet-rolling-restart.timer", "wsfleet-rolling-restart.service"
    while unit_property(control, timer, TRIGGERED) == triggered_before or unit_property(
        control, service, "ActiveState"
    ) in ("activating", "active"):
        assert time.monotonic() < deadline, "the timer's run did not end in time"
        time.sleep(2)


def test_a_timer_runs_a_rolling_restart_from_the_image_on_a_control_host(tmp_path, ee_image):
    """acme1 becomes a control host with podman and the image (loaded from an archive: it pulls
    from no registry); its timer starts the service that runs the rolling restart inside it."""
    archive = tmp_path / "ee.tar"
    subprocess.run(
        ["podman", "save", "--format", "oci-archive", "--output", str(archive), ee_image],
        check=True,
        capture_output=True,
    )
    run_ok(
        "molecule/rolling/control_host.yml",
        "--extra-vars",
        json.dumps({"image": ee_image, "image_archive": str(archive)}),
    )
    control = remote(app.hosts_of("acme")[0])
    before = {name: app.process_pids(name) for name in APPS}
    triggered_before = unit_property(control, "wsfleet-rolling-restart.timer", TRIGGERED)
    fire_timer_soon(control)
    wait_for_the_timer_run(control, triggered_before)
    service = control.service("wsfleet-rolling-restart.service")
    log = control.check_output("journalctl -u wsfleet-rolling-restart.service --no-pager -o cat")
    assert service.systemd_properties["Result"] == "success", log[-3000:]
    assert "podman" in service.systemd_properties["ExecStart"]
    assert re.search(r"app\d+\s+: ok=\d+\s+changed=\d+\s+unreachable=0\s+failed=0", log)
    for name in APPS:
        after = app.process_pids(name)
        assert all(after[number] != before[name][number] for number in after)
