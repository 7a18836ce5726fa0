"""bench/run.py without a fleet: the host-side script it runs (wsfleet_support's
remote/probe.py) against a fake systemctl and fake app processes on unix sockets, and the pure
functions that turn reports and samples into results.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bench import run
from wsfleet_support import remote, ssh
from wsfleet_support.fleet import LocalFleet

APP = "echo"
TIMEOUT = 20.0

# A fake app process and a fake systemctl for its units, put on the fake host's PATH.
FAKES = Path(__file__).resolve().parent / "fake_host"


class FakeHost:
    """A runtime folder with process slots, a fake systemctl on PATH, and its call log."""

    def __init__(self, root: Path) -> None:
        self.runtime = root / "run"
        self.state = root / "state"
        self.bin = root / "bin"
        for folder in (self.runtime, self.state, self.bin):
            folder.mkdir()
        (self.state / "process.py").write_text((FAKES / "process.py").read_text())
        systemctl = self.bin / "systemctl"
        systemctl.write_text(f"#!{sys.executable}\n" + (FAKES / "systemctl.py").read_text())
        systemctl.chmod(0o755)
        self.env = {
            **os.environ,
            "PATH": f"{self.bin}{os.pathsep}{os.environ['PATH']}",
            "FAKE_RUNTIME": str(self.runtime),
            "FAKE_STATE": str(self.state),
        }

    def systemctl(self, *args: str) -> None:
        subprocess.run(["systemctl", *args], env=self.env, check=True, timeout=TIMEOUT)

    def socket(self, name: str) -> Path:
        return self.runtime / f"{name}.sock"

    def add_slot(self, slot: int, side: str) -> None:
        self.systemctl("start", f"{APP}@{slot}{side}.service")
        wait_for(lambda: self.socket(f"{slot}{side}").exists())
        self.socket(str(slot)).symlink_to(f"{slot}{side}.sock")

    def calls(self) -> list[str]:
        return (self.state / "calls").read_text().splitlines()

    def probe(self, *args: str) -> str:
        """remote/probe.py's output, run as over SSH: the script on python's stdin."""
        command = [sys.executable, "-", *args]
        result = subprocess.run(
            command,
            input=remote.path("probe.py").read_text(),
            env=self.env,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    def kill_all(self) -> None:
        for pid_file in self.state.glob("*.pid"):
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid_file.read_text()), signal.SIGKILL)


def wait_for(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


@pytest.fixture
def host(short_tmp_dir: Path) -> Iterator[FakeHost]:
    fake = FakeHost(short_tmp_dir)
    yield fake
    fake.kill_all()


@pytest.fixture
def two_slots(host: FakeHost) -> FakeHost:
    host.add_slot(1, "a")
    host.add_slot(2, "a")
    return host


# -- the host-side scripts -----------------------------------------------------


def test_floor_replaces_every_slot_by_surge(two_slots: FakeHost) -> None:
    host = two_slots
    steps = json.loads(host.probe("floor", APP, str(host.runtime)))

    assert [(s["process"], s["old_side"], s["new_side"]) for s in steps] == [
        (1, "a", "b"),
        (2, "a", "b"),
    ]
    for step in steps:
        parts = ("start_to_healthy_seconds", "switch_seconds", "drain_seconds")
        assert all(step[part] >= 0 for part in parts)
        assert step["total_seconds"] == pytest.approx(sum(step[part] for part in parts))
    # Start before stop, slot after slot; each slot's address now reaches its new side.
    assert host.calls()[-4:] == [
        "start echo@1b.service",
        "stop echo@1a.service",
        "start echo@2b.service",
        "stop echo@2a.service",
    ]
    assert os.readlink(host.socket("1")) == "1b.sock"
    assert os.readlink(host.socket("2")) == "2b.sock"
    assert not host.socket("1a").exists() and host.socket("1b").exists()
    assert not list(host.runtime.glob("*.floor-*"))


def test_floor_goes_back_to_the_first_side_the_next_time(two_slots: FakeHost) -> None:
    host = two_slots
    host.probe("floor", APP, str(host.runtime))
    steps = json.loads(host.probe("floor", APP, str(host.runtime)))

    assert [(s["old_side"], s["new_side"]) for s in steps] == [("b", "a"), ("b", "a")]
    assert os.readlink(host.socket("1")) == "1a.sock"


def test_live_units_follow_the_slot_links(two_slots: FakeHost) -> None:
    host = two_slots
    os.unlink(host.socket("2"))
    host.systemctl("start", "echo@2b.service")
    host.socket("2").symlink_to("2b.sock")

    units = json.loads(host.probe("live-units", APP, str(host.runtime)))
    assert units == ["echo@1a.service", "echo@2b.service"]


def test_sampler_counts_every_side_and_marks_missing_ones(two_slots: FakeHost) -> None:
    host = two_slots
    command = [sys.executable, "-u", str(remote.path("probe.py")), "sample", str(host.runtime)]
    sampler = subprocess.Popen(command, env=host.env, stdout=subprocess.PIPE, text=True)
    try:
        first = json.loads(sampler.stdout.readline())
        assert first == {str(host.socket("1a")): 7, str(host.socket("2a")): 7}

        host.systemctl("start", "echo@1b.service")
        host.systemctl("stop", "echo@1a.service")
        wanted = {str(host.socket("1a")): -1, str(host.socket("1b")): 7}
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            sample = json.loads(sampler.stdout.readline())
            if wanted.items() <= sample.items():
                break
        assert wanted.items() <= sample.items()
    finally:
        sampler.kill()
        sampler.wait()


# -- the rollout reports -------------------------------------------------------


@pytest.mark.parametrize(
    ("serial", "hosts", "sizes"),
    [
        ("1", 3, [1, 1, 1]),
        ("25%", 8, [2, 2, 2, 2]),
        ("50%", 3, [1, 1, 1]),
        ("10%", 3, [1, 1, 1]),
        ("2", 3, [2, 1]),
        ("0", 3, [3]),
    ],
)
def test_batches_as_ansible_makes_them(serial: str, hosts: int, sizes: list[int]) -> None:
    names = [f"app{number}" for number in range(1, hosts + 1)]
    batches = run.batches_of(names, serial)
    assert [len(batch) for batch in batches] == sizes
    assert [name for batch in batches for name in batch] == names


def module_report(host: str, seconds: float) -> dict:
    process = {
        "process": 1,
        "action": "replace",
        "phase": "rollout",
        "mode": "surge",
        "old_side": "a",
        "new_side": "b",
        "connections_before": 300,
        "drain_seconds": 0.05,
        "start_to_healthy_seconds": 0.4,
        "gate_passed": True,
        "attempts": 2,
        "release": "1.0.0-abc",
        "reason": "",
    }
    return {
        "outcome": "done",
        "mode": "surge",
        "release_before": "1.0.0-abc",
        "release_after": "1.0.0-abc",
        "previous_after": None,
        "switched": False,
        "planned": [{"process": 1, "action": "replace"}],
        "processes": [process, {**process, "process": 2, "connections_before": 310}],
        "failure": None,
        "rollback_failure": None,
        "seconds": seconds,
        "changed": True,
    }


def test_rollout_record_from_the_reports_the_hosts_kept() -> None:
    texts = {
        host: json.dumps({**module_report(host, seconds), "started": started})
        for host, seconds, started in (("app1", 1.5, 1000.5), ("app2", 1.25, 1001.0))
    }
    # app3 was not reached by this run: its report is an older run's; app4 never had one.
    texts["app3"] = json.dumps({**module_report("app3", 9.0), "started": 999.0})
    texts["app4"] = ""

    reports = run.fresh_reports(texts, since=1000.0)
    record = run.rollout_record(reports, ["app1", "app2", "app3"], "1")

    assert record["serial"] == "1"
    assert record["batches"] == [["app1"], ["app2"], ["app3"]]
    assert record["hosts"]["app1"]["seconds"] == 1.5
    assert "processes" not in record["hosts"]["app1"]
    assert [(s["host"], s["process"], s["connections_before"]) for s in record["steps"]] == [
        ("app1", 1, 300),
        ("app1", 2, 310),
        ("app2", 1, 300),
        ("app2", 2, 310),
    ]


# -- samples -------------------------------------------------------------------


def test_socket_events_after_the_sampling_began() -> None:
    series = {
        # Live from the start, replaced at 2.0 s.
        "app1/1a": [[0.0, 10], [1.0, 12], [2.0, -1], [3.0, -1]],
        # Appears at 1.0 s, not answering yet, then up.
        "app1/1b": [[1.0, -1], [1.5, 0], [3.0, 11]],
        # Up when it first appears after the start: an "up" too.
        "app2/1b": [[0.5, 10], [1.0, 9]],
        "app2/1a": [[0.1, 3], [1.0, -1]],
    }
    events = run.socket_events(series)

    assert [(e["host"], e["socket"], e["event"], e["at"]) for e in events] == [
        ("app2", "1b", "up", 0.5),
        ("app2", "1a", "gone", 1.0),
        ("app1", "1b", "up", 1.5),
        ("app1", "1a", "gone", 2.0),
    ]


def test_latest_counts_keep_answering_sockets_only() -> None:
    series = {"app1/1a": [[0.0, 10], [1.0, -1]], "app1/1b": [[1.0, 4], [2.0, 12]], "x/1a": []}
    assert run.latest_counts(series) == {"app1/1b": 12}


# -- commands ------------------------------------------------------------------


def test_restart_in_turn_waits_for_nothing_but_systemctl() -> None:
    command = run.restart_in_turn(["echo@1a.service", "echo@2b.service"])
    assert command == "systemctl restart echo@1a.service && systemctl restart echo@2b.service"


def test_one_by_one_restart_command_runs_in_a_shell(two_slots: FakeHost) -> None:
    host = two_slots
    command = run.restart_in_turn(["echo@1a.service", "echo@2a.service"])
    subprocess.run(["sh", "-c", command], env=host.env, check=True, timeout=TIMEOUT)

    assert host.calls()[-2:] == ["restart echo@1a.service", "restart echo@2a.service"]
    wait_for(lambda: host.socket("1a").exists() and host.socket("2a").exists())


def test_fleet_host_specs_name_the_app_hosts_first() -> None:
    specs = ["app1:app", "app2:app", "app3:app", "edge1:edge", "edge2:edge", "acme1:acme"]
    assert run.fleet_host_specs(3) == specs
    assert len(run.fleet_host_specs(run.LARGE_APP_HOSTS)) == run.LARGE_APP_HOSTS + 3
    # The converge is measured on the quick-start fleet's shape, its monitoring host included.
    assert run.fleet_host_specs(3, monitoring=True) == [*specs, "monitor1:monitoring"]


def remote_line(command: list[str], address: str) -> str:
    """The command line a host's shell gets from an ssh command: its words, joined."""
    return " ".join(command[command.index(f"root@{address}") + 1 :])


def test_script_arguments_reach_the_host_whole() -> None:
    fleet = LocalFleet("wsfleet-test")
    command = ssh.script_command(fleet, "192.0.2.1", "probe.py", "healthz", "a b'c")
    assert command[:2] == ["ssh", "-i"]
    line = remote_line(command, "192.0.2.1")
    assert shlex.split(line) == ["python3", "-u", "-", "healthz", "a b'c"]


def test_a_script_runs_from_stdin_as_over_ssh(two_slots: FakeHost) -> None:
    host = two_slots
    fleet = LocalFleet("wsfleet-test")
    command = ssh.script_command(
        fleet, "192.0.2.1", "probe.py", "live-units", APP, str(host.runtime), python=sys.executable
    )
    out = subprocess.run(
        ["sh", "-c", remote_line(command, "192.0.2.1")],
        input=remote.path("probe.py").read_text(),
        env=host.env,
        capture_output=True,
        text=True,
        check=True,
        timeout=TIMEOUT,
    ).stdout
    assert json.loads(out) == ["echo@1a.service", "echo@2a.service"]


class FleetWithFloatingAddresses:
    def __init__(self, floating: list[str]) -> None:
        self.floating = floating

    def floating_addresses(self) -> list[str]:
        return self.floating


def test_clients_reach_the_first_floating_address_by_the_shared_name(monkeypatch) -> None:
    monkeypatch.setattr(run, "BENCH_FLEET", FleetWithFloatingAddresses(["10.89.1.192"]))
    assert run.edge_entry() == ("ws.wsfleet.test", "10.89.1.192")


def test_without_floating_addresses_clients_reach_the_edge_itself(monkeypatch) -> None:
    monkeypatch.setattr(run, "BENCH_FLEET", FleetWithFloatingAddresses([]))
    monkeypatch.setattr(run, "hosts_of", lambda group: [{"name": "edge1", "address": "10.0.0.9"}])
    assert run.edge_entry() == ("edge1.wsfleet.test", "10.0.0.9")
