"""The app's processes on a host: where each slot and side is reached, the NAT map of the
slots' TCP ports, and what the process managers report, start, stop and record for the boot.
The rollout that drives them is tested in test_rollout.py."""

import json
import os
from pathlib import Path

import pytest
from ansible_collections.wsfleet.deploy.plugins.module_utils.app_processes import (
    Addresses,
    SlotPortMap,
    SupervisorManager,
    SystemdManager,
    running_manager,
)

TMPFILES = "/nonexistent/echo-slots.conf"


class FakeModule:
    """run_command answers from a table of argv prefixes; every call is kept."""

    def __init__(self, answers, binaries=("nft",)):
        self.answers = answers
        self.binaries = binaries
        self.calls = []

    def get_bin_path(self, name):
        return name if name in self.binaries else None

    def run_command(self, argv):
        self.calls.append(argv)
        for prefix, answer in self.answers.items():
            if tuple(argv[: len(prefix)]) == prefix:
                return answer
        return 0, "", ""


@pytest.mark.parametrize(
    ("bind", "address", "slot", "expected"),
    [
        ("unix", "127.0.0.1", 2, ("ws://localhost/", "/run/echo/2b.sock")),
        ("tcp", "127.0.0.1", 3, ("ws://127.0.0.1:9006/", None)),
        ("tcp", "0.0.0.0", 1, ("ws://127.0.0.1:9002/", None)),
        ("tcp", "::", 1, ("ws://[::1]:9002/", None)),
        ("reuseport", "127.0.0.1", 3, ("ws://127.0.0.1:8001/", None)),
    ],
    ids=["unix", "tcp", "tcp-any-v4", "tcp-any-v6", "reuseport"],
)
def test_each_process_is_probed_on_its_own_side_address(bind, address, slot, expected):
    # Side b of the slot; with reuseport both sides share the one port.
    addresses = Addresses(bind, "/run/echo", address, 8001, 9001)
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
    addresses = Addresses("unix", str(tmp_path), "127.0.0.1", 8001)
    manager = SystemdManager(module, "echo", addresses, TMPFILES)
    # A failed unit does not run; another app's units are not ours.
    assert manager.running() == {1: "b", 2: "b"}
    assert manager.orphans() == [(1, "a")]


def kernel_map(*elements):
    listed = {"family": "inet", "name": "slots", "elem": [list(pair) for pair in elements]}
    return 0, json.dumps({"nftables": [{"map": listed}]}), ""


def tcp_slot_ports(tmp_path, answers):
    module = FakeModule(answers)
    addresses = Addresses("tcp", "/run/echo", "127.0.0.1", 8001, 9001)
    return module, SlotPortMap(module, "echo", addresses, str(tmp_path / "slot-ports.nft"))


def test_two_processes_on_a_tcp_slot_keep_the_one_its_port_leads_to(tmp_path):
    module, slot_port_map = tcp_slot_ports(
        tmp_path,
        {
            ("systemctl", "list-units"): (0, UNITS, ""),
            ("nft", "-j", "list", "map"): kernel_map((8001, 9002), (8002, 9004)),
        },
    )
    manager = SystemdManager(module, "echo", slot_port_map.addresses, TMPFILES, slot_port_map)
    assert manager.can_surge
    assert manager.running() == {1: "b", 2: "b"}
    assert manager.orphans() == [(1, "a")]


class NftModule(FakeModule):
    """Keeps what each `nft -f FILE` loaded, read when it ran."""

    def __init__(self, answers):
        super().__init__(answers)
        self.loaded = []

    def run_command(self, argv):
        if argv[:2] == ["nft", "-f"]:
            self.loaded.append(Path(argv[2]).read_text())
        return super().run_command(argv)


def test_pointing_a_tcp_slot_changes_only_its_entry_and_only_in_the_kernel(tmp_path):
    # Slot 2 has no entry yet (its process listens on 8002 itself): it keeps none.
    module = NftModule({("nft", "-j", "list", "map"): kernel_map((8001, 9001), (8003, 9005))})
    addresses = Addresses("tcp", "/run/echo", "127.0.0.1", 8001, 9001)
    slot_port_map = SlotPortMap(module, "echo", addresses, str(tmp_path / "slot-ports.nft"))
    manager = SystemdManager(module, "echo", addresses, TMPFILES, slot_port_map)
    manager.point(1, "b")
    assert len(module.loaded) == 1
    assert "elements = { 8001 : 9002, 8003 : 9005 }" in module.loaded[0]
    # The boot's file is written at the end of the rollout, with which side starts at boot.
    assert list(tmp_path.iterdir()) == []


def test_forgetting_a_tcp_slot_drops_its_entry(tmp_path):
    module = NftModule({("nft", "-j", "list", "map"): kernel_map((8001, 9001), (8002, 9004))})
    addresses = Addresses("tcp", "/run/echo", "127.0.0.1", 8001, 9001)
    slot_port_map = SlotPortMap(module, "echo", addresses, str(tmp_path / "slot-ports.nft"))
    SystemdManager(module, "echo", addresses, TMPFILES, slot_port_map).forget(2)
    assert "elements = { 8001 : 9001 }" in module.loaded[0]


def test_committing_writes_the_whole_map_for_the_boot(tmp_path):
    module = NftModule({("nft", "-j", "list", "map"): kernel_map((8001, 9002))})
    addresses = Addresses("tcp", "/run/echo", "127.0.0.1", 8001, 9001)
    slot_port_map = SlotPortMap(module, "echo", addresses, str(tmp_path / "slot-ports.nft"))
    assert slot_port_map.apply({1: "b", 2: "a"})
    kept = (tmp_path / "slot-ports.nft").read_text()
    assert "elements = { 8001 : 9002, 8002 : 9003 }" in kept
    assert module.loaded == [kept]


def test_a_map_already_loaded_and_kept_changes_nothing(tmp_path):
    module, slot_port_map = tcp_slot_ports(
        tmp_path, {("nft", "-j", "list", "map"): kernel_map((8001, 9002))}
    )
    assert slot_port_map.apply({1: "b"})
    module.calls.clear()
    assert not slot_port_map.apply({1: "b"})
    assert all(call[1] != "-f" for call in module.calls)


def test_a_map_lost_from_the_kernel_is_loaded_again(tmp_path):
    module, slot_port_map = tcp_slot_ports(
        tmp_path, {("nft", "-j", "list", "map"): (1, "", "No such file or directory")}
    )
    assert slot_port_map.apply({1: "a"})
    module.calls.clear()
    # The file is as wanted, the kernel has no table (a flush, say): load it again.
    assert slot_port_map.apply({1: "a"})
    assert ["nft", "-f", str(tmp_path / "slot-ports.nft")] in module.calls


@pytest.mark.parametrize(
    ("table_listed", "file_kept", "present"),
    [(0, False, True), (1, True, True), (1, False, False)],
    ids=["table", "file", "nothing"],
)
def test_check_mode_tells_whether_there_is_a_map_to_remove(
    tmp_path, table_listed, file_kept, present
):
    module, slot_port_map = tcp_slot_ports(
        tmp_path, {("nft", "list", "table"): (table_listed, "", "")}
    )
    if file_kept:
        (tmp_path / "slot-ports.nft").write_text("table inet wsfleet_echo_slots {}\n")
    assert slot_port_map.present() == present
    assert all(call[1] != "delete" for call in module.calls)


@pytest.mark.parametrize(
    ("table_listed", "file_kept", "changed", "deleted"),
    [(0, True, True, True), (1, True, True, False), (1, False, False, False)],
    ids=["table-and-file", "file-only", "nothing"],
)
def test_removing_the_map_takes_the_table_and_the_file(
    tmp_path, table_listed, file_kept, changed, deleted
):
    module, slot_port_map = tcp_slot_ports(
        tmp_path, {("nft", "list", "table"): (table_listed, "", "")}
    )
    if file_kept:
        (tmp_path / "slot-ports.nft").write_text("table inet wsfleet_echo_slots {}\n")
    assert slot_port_map.remove() == changed
    assert not (tmp_path / "slot-ports.nft").exists()
    assert (["nft", "delete", "table", "inet", "wsfleet_echo_slots"] in module.calls) == deleted


def test_without_nft_there_is_no_map_to_remove(tmp_path):
    module = FakeModule({}, binaries=())
    addresses = Addresses("unix", "/run/echo", "127.0.0.1", 8001, 9001)
    slot_port_map = SlotPortMap(module, "echo", addresses, str(tmp_path / "slot-ports.nft"))
    assert not slot_port_map.remove()
    assert module.calls == []


SUPERVISOR_STATUS = """\
echo_01a   RUNNING   pid 10, uptime 0:01:00
echo_01b   RUNNING   pid 12, uptime 0:00:01
echo_02a   STOPPED   Not started
echo_02b   FATAL     Exited too quickly
echo_03a   STOPPED   Not started
echo_03b   STARTING
other_01a  RUNNING   pid 11, uptime 0:01:00
"""


def test_supervisor_programs_that_run_are_the_live_sides(tmp_path):
    os.symlink("1b.sock", tmp_path / "1.sock")
    # supervisorctl status exits 3 when a program is not running: still an answer.
    module = FakeModule({("supervisorctl", "status"): (3, SUPERVISOR_STATUS, "")})
    addresses = Addresses("unix", str(tmp_path), "127.0.0.1", 8001)
    manager = SupervisorManager(module, "echo", addresses, TMPFILES, str(tmp_path / "boot.env"))
    assert manager.can_surge
    # Two programs on slot 1 (an interrupted surge): the one its link reaches is live.
    assert manager.running() == {1: "b", 3: "b"}
    assert manager.orphans() == [(1, "a")]


def test_supervisor_records_the_live_programs_for_the_boot(tmp_path):
    module = FakeModule({})
    addresses = Addresses("tcp", str(tmp_path), "127.0.0.1", 8001)
    boot_file = tmp_path / "config" / "supervisor-programs.env"
    manager = SupervisorManager(module, "echo", addresses, TMPFILES, str(boot_file))
    assert manager.record_boot({2: "b", 1: "a"})
    assert "WSFLEET_LIVE_PROGRAMS=echo_01a echo_02b\n" in boot_file.read_text()
    assert not manager.record_boot({2: "b", 1: "a"})


def test_supervisor_starts_and_stops_one_side_of_a_slot():
    module = FakeModule({})
    addresses = Addresses("unix", "/run/echo", "127.0.0.1", 8001)
    manager = SupervisorManager(module, "echo", addresses, TMPFILES, "/nonexistent")
    manager.start(3, "b")
    manager.stop(3, "a")
    assert module.calls == [
        ["supervisorctl", "start", "echo_03b"],
        ["supervisorctl", "stop", "echo_03a"],
    ]


def test_auto_finds_supervisor_by_its_programs_file(tmp_path):
    supervisor_conf = tmp_path / "echo.conf"
    assert running_manager(str(supervisor_conf)) == "systemd"
    supervisor_conf.write_text("[program:echo_01a]\n")
    assert running_manager(str(supervisor_conf)) == "supervisor"


def test_committing_unix_slots_drops_the_links_of_slots_that_no_longer_run(tmp_path):
    for slot, side in ((1, "a"), (2, "b"), (3, "a")):
        os.symlink(f"{slot}{side}.sock", tmp_path / f"{slot}.sock")
    (tmp_path / "1a.sock").write_text("")  # a socket of a live process stays whatever it is
    module = FakeModule({})
    addresses = Addresses("unix", str(tmp_path), "127.0.0.1", 8001)
    tmpfiles = str(tmp_path / "echo-slots.conf")
    manager = SupervisorManager(module, "echo", addresses, tmpfiles, str(tmp_path / "boot.env"))
    assert manager.commit({1: "a", 2: "b"})
    assert sorted(path.name for path in tmp_path.glob("*.sock")) == ["1.sock", "1a.sock", "2.sock"]
    assert f"L+ {tmp_path}/2.sock - - - - 2b.sock" in (tmp_path / "echo-slots.conf").read_text()


def test_a_binding_without_slot_links_drops_the_tmpfiles_entry_it_was_given(tmp_path):
    tmpfiles = tmp_path / "echo-slots.conf"
    tmpfiles.write_text("L+ /run/echo/1.sock - - - - 1a.sock\n")
    addresses = Addresses("reuseport", str(tmp_path), "127.0.0.1", 8001)
    manager = SupervisorManager(
        FakeModule({}), "echo", addresses, str(tmpfiles), str(tmp_path / "boot.env")
    )
    assert manager.commit({1: "a"})
    assert not tmpfiles.exists()
