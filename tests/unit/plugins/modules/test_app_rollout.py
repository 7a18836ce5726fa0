"""app_rollout's main() on a host of temporary folders, with systemd and supervisor answered by
fakes and every process passing its gate: the paths it takes from the role, the report it
returns (with the lines the play prints) and the one it keeps. Its parts are tested beside
them in module_utils: test_app_processes.py, test_health_gate.py, test_releases.py,
test_rollout_report.py, and the rollout itself in test_rollout.py."""

import json

import pytest
from ansible_collections.wsfleet.deploy.plugins.module_utils import app_processes, health_gate
from ansible_collections.wsfleet.deploy.plugins.module_utils.rollout import GateResult
from ansible_collections.wsfleet.deploy.plugins.modules import app_rollout
from module_runner import Commands, run_module


class HealthyProbe:
    """Every process has two clients and passes its gate at the first attempt. The last one
    made is kept, to see what the module asked of it."""

    made = None

    def __init__(self, addresses, *settings, check=None):
        self.addresses = addresses
        self.check = check
        HealthyProbe.made = self

    def connections(self, slot, side):
        return 2

    def gate(self, slot, side):
        return GateResult(True, 1, release="1.1.0")


class FakeHost:
    """systemd's units of echo, started and stopped as asked, and supervisor's programs;
    no nftables table of the app's."""

    def __init__(self, units):
        self.units = set(units)

    def answer(self, argv):
        if argv[:2] == ["systemctl", "list-units"]:
            listed = "".join(f"{unit} loaded active running echo\n" for unit in self.units)
            return 0, listed, ""
        if argv[:2] == ["systemctl", "start"]:
            self.units.add(argv[2])
        if argv[:2] == ["systemctl", "stop"]:
            self.units.discard(argv[2])
        if argv[:2] == ["supervisorctl", "status"]:
            return 3, "echo_01a RUNNING pid 10, uptime 0:01:00\necho_01b STOPPED Not started\n", ""
        if argv[0].endswith("nft"):
            return 1, "", "No such file or directory"
        return 0, "", ""


@pytest.fixture
def fake_host(monkeypatch):
    fake = FakeHost(["echo@1a.service", "echo@2b.service"])
    fake.commands = Commands(fake.answer).install(monkeypatch)
    return fake


@pytest.fixture
def host(tmp_path, monkeypatch, fake_host):
    """Release 1.0.0 live and 1.1.0 installed; echo@1a and echo@2b run, their slot links
    reach them. Returns the module's arguments for it."""
    base = tmp_path / "srv"
    for release in ("1.0.0", "1.1.0"):
        (base / "releases" / release).mkdir(parents=True)
        (base / "releases" / release / "release.json").write_text(json.dumps({"id": release}))
    (base / "current").symlink_to(base / "releases" / "1.0.0")
    runtime = tmp_path / "run"
    runtime.mkdir()
    (runtime / "1.sock").symlink_to("1a.sock")
    (runtime / "2.sock").symlink_to("2b.sock")
    for folder in ("etc", "tmpfiles.d", "conf.d", "wants"):
        (tmp_path / folder).mkdir()
    monkeypatch.setattr(health_gate, "Probe", HealthyProbe)
    monkeypatch.setattr(app_processes, "WANTS_DIR", str(tmp_path / "wants"))
    return dict(
        name="echo",
        base_dir=str(base),
        runtime_dir=str(runtime),
        slot_ports_file=str(tmp_path / "etc" / "slot-ports.nft"),
        slots_tmpfiles=str(tmp_path / "tmpfiles.d" / "echo-slots.conf"),
        supervisor_boot_file=str(tmp_path / "etc" / "supervisor-programs.env"),
        supervisor_conf=str(tmp_path / "conf.d" / "echo.conf"),
        processes=2,
    )


def test_a_deploy_replaces_every_process_and_returns_the_lines_to_print(host, tmp_path):
    ok, result = run_module(app_rollout.main, release="1.1.0", **host)
    assert ok, result["msg"]
    assert (result["outcome"], result["release_after"], result["previous_after"]) == (
        "done",
        "1.1.0",
        "1.0.0",
    )
    assert result["headline"].startswith(
        "release 1.1.0 live (done, surge); 2 of 2 started processes passed their health gate in "
    )
    assert [line.split(",")[0] for line in result["report_lines"]] == [
        "rollout replace process 1 a -> b: 2 connections",
        "rollout replace process 2 b -> a: 2 connections",
    ]
    # The slot links are recorded for the boot in the file the role named.
    tmpfiles = (tmp_path / "tmpfiles.d" / "echo-slots.conf").read_text()
    assert f"L+ {tmp_path}/run/1.sock - - - - 1b.sock" in tmpfiles


def test_the_report_kept_on_the_host_has_the_fields_not_the_lines(host, tmp_path):
    ok, result = run_module(app_rollout.main, release="1.1.0", **host)
    kept = json.loads((tmp_path / "srv" / "last-rollout.json").read_text())
    assert ok and kept["report_path"] == result["report_path"]
    assert "headline" not in kept and "report_lines" not in kept
    assert kept["processes"] == result["processes"]
    assert kept["msg"] == ""


def test_check_mode_plans_without_changing_or_keeping_anything(host, tmp_path):
    ok, result = run_module(app_rollout.main, release="1.1.0", _ansible_check_mode=True, **host)
    assert ok and result["changed"]
    assert result["planned"] == [
        {"process": 1, "action": "replace"},
        {"process": 2, "action": "replace"},
    ]
    assert result["report_lines"] == []
    assert result["headline"].startswith("release 1.1.0 live (done, surge); 0 of 0 started")
    assert (tmp_path / "srv" / "current").readlink().name == "1.0.0"
    assert not (tmp_path / "srv" / "last-rollout.json").exists()


def test_auto_finds_supervisor_by_the_programs_file_the_role_named(host, fake_host, tmp_path):
    (tmp_path / "conf.d" / "echo.conf").write_text("[program:echo_01a]\n")
    args = dict(host, process_manager="auto", replace=True, _ansible_check_mode=True)
    del args["processes"]
    ok, result = run_module(app_rollout.main, **args)
    assert ok, result["msg"]
    assert result["process_manager"] == "supervisor"
    assert result["planned"] == [{"process": 1, "action": "replace"}]
    assert ["supervisorctl", "status"] in fake_host.commands.calls


@pytest.mark.parametrize(
    "path",
    ["runtime_dir", "slot_ports_file", "slots_tmpfiles", "supervisor_boot_file", "supervisor_conf"],
)
def test_the_paths_the_role_defines_are_required(host, path):
    args = dict(host)
    del args[path]
    ok, result = run_module(app_rollout.main, **args)
    assert not ok
    assert result["msg"] == f"missing required arguments: {path}"


def test_the_app_check_reaches_the_gate(host):
    ok, result = run_module(
        app_rollout.main,
        release="1.1.0",
        check_path="/ws?room=1",
        check_headers={"Authorization": "Bearer s3cret", "X-Attempt": 1},
        check_subprotocols=["chat.v1"],
        check_send="hello",
        check_expect="^hello$",
        **host,
    )
    assert ok, result["msg"]
    check = HealthyProbe.made.check
    assert (check.path, check.headers, check.subprotocols, check.send, check.expect) == (
        "/ws?room=1",
        {"Authorization": "Bearer s3cret", "X-Attempt": "1"},
        ["chat.v1"],
        "hello",
        "^hello$",
    )
    # The token is a secret: it stays out of what the task returns.
    assert "s3cret" not in json.dumps(result)


def test_by_default_the_gate_opens_at_the_root_and_sends_nothing(host):
    ok, result = run_module(app_rollout.main, release="1.1.0", **host)
    assert ok, result["msg"]
    check = HealthyProbe.made.check
    assert (check.path, check.headers, check.subprotocols, check.send, check.expect) == (
        "/",
        {},
        [],
        None,
        None,
    )


@pytest.mark.parametrize(
    ("option", "error"),
    [
        ({"check_path": "ws"}, "check_path must start with /, got 'ws'"),
        ({"check_path": "/ws#top"}, "check_path must not hold a fragment (#)"),
        ({"check_expect": "(unclosed"}, "check_expect is not a valid regular expression"),
    ],
)
def test_a_check_that_could_never_pass_is_refused(host, fake_host, option, error):
    ok, result = run_module(app_rollout.main, release="1.1.0", **option, **host)
    assert not ok and error in result["msg"]
    # Refused before anything changed.
    assert not any(call[:2] == ["systemctl", "start"] for call in fake_host.commands.calls)


def test_a_json_message_set_as_a_mapping_reaches_the_gate_as_json(host):
    ok, result = run_module(
        app_rollout.main, release="1.1.0", check_send={"type": "status"}, **host
    )
    assert ok, result["msg"]
    assert HealthyProbe.made.check.send == '{"type": "status"}'
