"""app_rollout's host side: where processes are reached, what the process managers report,
and the gate's waits. The rollout itself is tested in module_utils/test_rollout.py."""

import itertools
import json
import os

import pytest
from ansible_collections.wsfleet.deploy.plugins.modules.app_rollout import (
    Addresses,
    SupervisorManager,
    SystemdManager,
    backoff,
    keep_report,
    running_manager,
)


class FakeModule:
    """run_command answers from a table of argv prefixes; every call is kept."""

    def __init__(self, answers):
        self.answers = answers
        self.calls = []

    def run_command(self, argv):
        self.calls.append(argv)
        for prefix, answer in self.answers.items():
            if tuple(argv[: len(prefix)]) == prefix:
                return answer
        return 0, "", ""


def test_waits_double_from_a_short_first_one_up_to_the_delay():
    assert list(itertools.islice(backoff(0.25), 6)) == [0.02, 0.04, 0.08, 0.16, 0.25, 0.25]


def test_a_delay_shorter_than_the_first_wait_caps_every_wait():
    assert list(itertools.islice(backoff(0.01), 3)) == [0.01, 0.01, 0.01]


@pytest.mark.parametrize(
    ("bind", "sided", "address", "slot", "expected"),
    [
        ("unix", True, "127.0.0.1", 2, ("ws://localhost/", "/run/echo/2b.sock")),
        ("unix", False, "127.0.0.1", 2, ("ws://localhost/", "/run/echo/2.sock")),
        ("tcp", True, "127.0.0.1", 3, ("ws://127.0.0.1:8003/", None)),
        ("tcp", True, "0.0.0.0", 1, ("ws://127.0.0.1:8001/", None)),
        ("tcp", True, "::", 1, ("ws://[::1]:8001/", None)),
        ("reuseport", True, "127.0.0.1", 3, ("ws://127.0.0.1:8001/", None)),
    ],
    ids=["unix-side", "unix-supervisor", "tcp", "tcp-any-v4", "tcp-any-v6", "reuseport"],
)
def test_each_process_is_probed_on_its_own_address(bind, sided, address, slot, expected):
    addresses = Addresses(bind, "/run/echo", address, 8001, sided=sided)
    assert addresses.probe_target(slot, "b") == expected


UNITS = """\
echo@1a.service loaded active running echo websockets server, process 1a
echo@1b.service loaded active running echo websockets server, process 1b
echo@2b.service loaded active running echo websockets server, process 2b
echo@3a.service loaded failed failed echo websockets server, process 3a
other@1a.service loaded active running another app
"""


def test_two_processes_on_a_slot_keep_the_one_its_link_reaches(tmp_path):
    os.symlink("1b.sock", tmp_path / "1.sock")
    module = FakeModule({("systemctl", "list-units"): (0, UNITS, "")})
    manager = SystemdManager(module, "echo", Addresses("unix", str(tmp_path), "127.0.0.1", 8001))
    # A failed unit does not run; another app's units are not ours.
    assert manager.running() == {1: "b", 2: "b"}
    assert manager.orphans() == [(1, "a")]


def test_supervisor_programs_that_run_are_the_live_slots():
    status = (
        "echo_01   RUNNING   pid 10, uptime 0:01:00\n"
        "echo_02   FATAL     Exited too quickly\n"
        "echo_03   STARTING  \n"
        "other_01  RUNNING   pid 11, uptime 0:01:00\n"
    )
    # supervisorctl status exits 3 when a program is not running: still an answer.
    module = FakeModule({("supervisorctl", "status"): (3, status, "")})
    assert SupervisorManager(module, "echo").running() == {1: "a", 3: "a"}


def test_auto_finds_supervisor_by_its_programs_file(tmp_path):
    assert running_manager("echo", str(tmp_path)) == "systemd"
    (tmp_path / "echo.conf").write_text("[program:echo_01]\n")
    assert running_manager("echo", str(tmp_path)) == "supervisor"
    assert running_manager("other", str(tmp_path)) == "systemd"


def test_the_report_is_kept_whole_and_names_the_failure(tmp_path):
    report = {
        "outcome": "rolled_back",
        "release_after": "1.0.0-aaa",
        "failure": "process 1 (echo) failed its health gate",
        "report_path": str(tmp_path / "last-rollout.json"),
    }
    keep_report(report)
    kept = json.loads((tmp_path / "last-rollout.json").read_text())
    assert kept["outcome"] == "rolled_back"
    assert kept["msg"] == "back on 1.0.0-aaa and serving: process 1 (echo) failed its health gate"
    assert oct(os.stat(tmp_path / "last-rollout.json").st_mode & 0o777) == "0o644"
    assert not (tmp_path / "last-rollout.json.tmp").exists()
