"""host_facts on a host made of temporary folders: its routers' unit files, the app's files
and release links; `ip`, `systemctl` and the Python are stand-ins."""

import json
import os

import pytest
from ansible.module_utils import basic
from ansible_collections.wsfleet.deploy.plugins.modules import host_facts
from module_runner import Commands, run_module

ROUTES = (
    "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
    "eth0\t00000000\t0100590A\t0003\t0\t0\t0\t00000000\t0\t0\t0\n"
)
IP_JSON = json.dumps(
    [
        {"ifname": "lo", "addr_info": [{"family": "inet", "local": "127.0.0.1", "scope": "host"}]},
        {
            "ifname": "eth0",
            "addr_info": [
                {"family": "inet", "local": "10.89.0.5", "scope": "global"},
                {"family": "inet6", "local": "fe80::5", "scope": "link"},
            ],
        },
    ]
)


class Host:
    """Where the units are and which services are active; what ip and python answer."""

    def __init__(self, tmp_path):
        self.unit_folders = [tmp_path / "etc-systemd", tmp_path / "lib-systemd"]
        for folder in self.unit_folders:
            folder.mkdir()
        self.active = set()
        self.ip = (0, IP_JSON, "")
        self.python = (0, "Python 3.11.2\n", "")

    def install(self, router, folder=0):
        (self.unit_folders[folder] / f"{router}.service").write_text("[Unit]\n")

    def answer(self, argv):
        if argv[:2] == ["systemctl", "is-active"]:
            return (0 if argv[3] in self.active else 3), "", ""
        if argv[:2] == ["ip", "-j"]:
            return self.ip
        if argv[1:] == ["--version"]:
            return self.python
        raise AssertionError(f"unexpected command {argv}")


@pytest.fixture
def host(tmp_path, monkeypatch):
    fake = Host(tmp_path)
    fake.commands = Commands(fake.answer).install(monkeypatch)
    monkeypatch.setattr(host_facts, "UNIT_FOLDERS", tuple(str(f) for f in fake.unit_folders))
    monkeypatch.setattr(basic.AnsibleModule, "get_bin_path", lambda module, name, *a, **k: name)
    routes = tmp_path / "route"
    routes.write_text(ROUTES)
    real_read = host_facts.read
    monkeypatch.setattr(
        host_facts,
        "read",
        lambda path: real_read(str(routes) if path == "/proc/net/route" else path),
    )
    return fake


def facts(**args):
    ok, result = run_module(host_facts.main, **args)
    assert ok, result
    assert result["changed"] is False
    return result["ansible_facts"]["wsfleet_host"]


def test_a_bare_host(host):
    found = facts()
    assert found["addresses"] == {"ipv4": ["10.89.0.5"], "ipv6": []}
    assert found["gateway_ipv4"] == "10.89.0.1"
    assert found["cpus"] >= 1
    assert (found["routers_installed"], found["routers_active"], found["router"]) == ([], [], None)
    assert found["router_wanted"] is None
    assert found["switches_router"] is False
    assert found["switching"] is False
    assert "app" not in found
    assert "python" not in found
    # No router installed: systemd is not asked about any.
    assert [argv[0] for argv in host.commands.calls] == ["ip"]


def test_a_host_without_ip_has_no_addresses(host, monkeypatch):
    monkeypatch.setattr(basic.AnsibleModule, "get_bin_path", lambda module, name, *a, **k: None)
    assert facts()["addresses"] == {"ipv4": [], "ipv6": []}


def test_a_failing_ip_reports_no_addresses(host):
    host.ip = (1, "garbage", "Cannot open netlink socket")
    assert facts()["addresses"] == {"ipv4": [], "ipv6": []}


@pytest.mark.parametrize(
    ("installed", "active", "wanted", "router", "switches"),
    [
        ({"nginx": 0}, {"nginx"}, "nginx", "nginx", False),
        ({"nginx": 1}, set(), "haproxy", "nginx", True),
        ({"haproxy": 1}, {"haproxy"}, None, "haproxy", False),
        ({}, set(), "haproxy", None, False),
        # A switch half done: both installed, the new one running.
        ({"nginx": 0, "haproxy": 0}, {"haproxy"}, "haproxy", "haproxy", False),
        ({"nginx": 0, "haproxy": 1}, {"nginx", "haproxy"}, "haproxy", "nginx", True),
    ],
    ids=[
        "runs-what-it-should",
        "installed-stopped-other-wanted",
        "not-said",
        "bare-host-installs",
        "switched-new-one-active",
        "both-active-first-looked-for",
    ],
)
def test_the_router_it_runs_and_whether_it_switches(
    host, installed, active, wanted, router, switches
):
    for name, folder in installed.items():
        host.install(name, folder)
    host.active = {f"{name}.service" for name in active}
    found = facts(router=wanted)
    assert found["routers_installed"] == [
        name for name in ("nginx", "haproxy") if name in installed
    ]
    assert found["routers_active"] == [name for name in ("nginx", "haproxy") if name in active]
    assert found["router"] == router
    assert found["router_wanted"] == wanted
    assert found["switches_router"] is switches
    assert found["switching"] is switches


def test_an_active_service_without_a_unit_file_is_not_a_router(host):
    host.active = {"nginx.service"}
    host.install("haproxy")
    found = facts(routers=["nginx", "haproxy"])
    assert found["routers_installed"] == ["haproxy"]
    assert found["router"] == "haproxy"


def test_the_python_virtualenvs_are_made_with(host):
    found = facts(python="/usr/bin/python3")
    assert found["python"]["python_version"] == "3.11"
    assert found["python"]["machine"] == os.uname()[4]
    assert ["/usr/bin/python3", "--version"] in host.commands.calls


def test_an_old_python_reports_its_version_on_stderr(host):
    host.python = (0, "", "Python 2.7.18\n")
    assert facts(python="/usr/bin/python2")["python"]["python_version"] == "2.7"


def test_a_python_that_does_not_run_fails(host):
    host.python = (127, "", "no such file")
    ok, result = run_module(host_facts.main, python="/opt/none/python3")
    assert not ok
    assert result["msg"] == "/opt/none/python3 --version failed: no such file"


def app_paths(tmp_path):
    base = tmp_path / "srv" / "echo"
    return {
        "base_dir": str(base),
        "instances_dir": str(tmp_path / "etc" / "echo" / "instances"),
        "unit_template": str(tmp_path / "units" / "echo@.service"),
        "supervisor_conf": str(tmp_path / "supervisor" / "echo.conf"),
        "switch_marker": str(tmp_path / "run" / "echo.switching"),
    }


def release(base, release_id, installed_at=None):
    path = base / "releases" / release_id
    path.mkdir(parents=True)
    if installed_at:
        record = {"id": release_id, "installed_at": installed_at}
        (path / "release.json").write_text(json.dumps(record))


def test_an_app_never_installed(host, tmp_path):
    found = facts(app=dict(app_paths(tmp_path), process_manager="systemd"))
    assert found["app"] == {
        "process_manager": None,
        "instances": [],
        "supervisor_programs": [],
        "releases": [],
        "current": None,
        "previous": None,
        "switch_begun": False,
        "switches_manager": False,
    }
    assert found["switching"] is False


def test_an_app_under_systemd_with_releases(host, tmp_path):
    paths = app_paths(tmp_path)
    base = tmp_path / "srv" / "echo"
    release(base, "1.1.0-b", "2026-11-02T00:00:00")
    release(base, "1.0.0-a", "2026-11-01T00:00:00")
    release(base, "1.2.0-half")  # interrupted: not a release to switch to
    os.symlink("releases/1.1.0-b", base / "current")
    os.symlink(str(base / "releases" / "1.0.0-a") + "/", base / "previous")
    instances = tmp_path / "etc" / "echo" / "instances"
    instances.mkdir(parents=True)
    for name in ("2a.env", "1b.env", "1a.env", "2a.env.dpkg-old"):
        (instances / name).write_text("")
    (tmp_path / "units").mkdir()
    (tmp_path / "units" / "echo@.service").write_text("[Service]\n")
    found = facts(app=dict(paths, process_manager="systemd"))["app"]
    assert found["process_manager"] == "systemd"
    assert found["instances"] == ["1a", "1b", "2a"]
    assert found["releases"] == ["1.0.0-a", "1.1.0-b"]
    assert (found["current"], found["previous"]) == ("1.1.0-b", "1.0.0-a")
    assert found["switches_manager"] is False


@pytest.mark.parametrize(
    ("supervisor", "template", "marker", "wanted", "manager", "switches", "switching"),
    [
        (True, False, False, "systemd", "supervisor", True, True),
        (True, False, False, "supervisor", "supervisor", False, False),
        (False, True, False, "supervisor", "systemd", True, True),
        # A switch stopped half way: taken up again though the managers now agree.
        (False, True, True, "systemd", "systemd", False, True),
        (False, False, False, "supervisor", None, False, False),
        (True, True, False, None, "supervisor", False, False),
    ],
    ids=[
        "supervisor-to-systemd",
        "stays-supervisor",
        "systemd-to-supervisor",
        "switch-begun",
        "first-install",
        "not-said",
    ],
)
def test_the_process_manager_and_whether_it_switches(
    host, tmp_path, supervisor, template, marker, wanted, manager, switches, switching
):
    paths = app_paths(tmp_path)
    for present, key, content in (
        (supervisor, "supervisor_conf", "[program:echo_1a]\n[eventlistener:echo_starter]\n"),
        (template, "unit_template", "[Service]\n"),
        (marker, "switch_marker", ""),
    ):
        if present:
            os.makedirs(os.path.dirname(paths[key]), exist_ok=True)
            with open(paths[key], "w") as handle:
                handle.write(content)
    found = facts(app=dict(paths, process_manager=wanted))
    assert found["app"]["process_manager"] == manager
    assert found["app"]["switch_begun"] is marker
    assert found["app"]["switches_manager"] is switches
    assert found["switching"] is switching
    expected = ["echo_1a", "echo_starter"] if supervisor else []
    assert found["app"]["supervisor_programs"] == expected


def test_check_mode_reads_the_same(host, tmp_path):
    host.install("nginx")
    host.active = {"nginx.service"}
    assert facts(_ansible_check_mode=True, router="haproxy") == facts(router="haproxy")
