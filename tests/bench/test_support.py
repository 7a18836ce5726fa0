"""wsfleet_support without a fleet: the host-side scripts against the real echo app, how a
script reaches a testinfra host, and the statistics."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from wsfleet_support import playbooks, remote, stats
from wsfleet_support.echo_app import free_tcp_port

TIMEOUT = 30


def script(name: str, *args: object) -> str:
    command = [sys.executable, str(remote.path(name)), *map(str, args)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_healthz_on_a_unix_socket_and_a_port(start_server) -> None:
    unix, tcp = start_server(unix=True), start_server()
    for answer in (
        json.loads(script("probe.py", "healthz", unix.socket_path)),
        json.loads(script("probe.py", "healthz-tcp", tcp.port)),
    ):
        assert answer["status"] == 200
        assert answer["body"]["status"] == "ok"
        assert answer["body"]["connections"] == 0


def test_healthz_fails_when_nothing_answers(short_tmp_dir: Path) -> None:
    command = [sys.executable, str(remote.path("probe.py")), "healthz", f"{short_tmp_dir}/x.sock"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT)
    assert result.returncode == 1
    assert "no answer from" in result.stderr


def test_process_counts_read_every_process_by_socket_and_port(
    start_server, short_tmp_dir: Path
) -> None:
    side = start_server(unix=True, name="1a")
    (short_tmp_dir / "1.sock").symlink_to("1a.sock")
    tcp = start_server()
    with side.connect(), side.connect():
        counts = json.loads(script("probe.py", "process-counts", short_tmp_dir, tcp.port, 2))
    # The slot's link is not a process; a port where nothing listens is left out.
    assert counts == {"1a.sock": 2, str(tcp.port): 0}


def test_port_open_names_the_error(start_server) -> None:
    server = start_server()
    assert script("probe.py", "port-open", "127.0.0.1", server.port) == "open"
    assert script("probe.py", "port-open", "127.0.0.1", free_tcp_port()) == (
        "ConnectionRefusedError"
    )


@pytest.mark.parametrize("transport", ["unix", "tcp"])
def test_ws_probe_echoes_through_a_socket_or_a_url(start_server, transport: str) -> None:
    server = start_server(unix=transport == "unix")
    target = server.socket_path if transport == "unix" else server.uri()
    assert script("ws_probe.py", "echo", target) == f"ping through {target}"


def test_ws_probe_times_round_trips(start_server) -> None:
    server = start_server(unix=True)
    samples = json.loads(script("ws_probe.py", "latency", server.socket_path, 5))
    assert len(samples) == 5
    assert all(sample > 0 for sample in samples)


def test_unknown_commands_fail() -> None:
    for name in ("probe.py", "ws_probe.py"):
        result = subprocess.run(
            [sys.executable, str(remote.path(name)), "nothing"], capture_output=True, text=True
        )
        assert result.returncode == 1
        assert "unknown command" in result.stderr


class LocalHost:
    """A stand-in for a testinfra host: its commands run here, in a shell."""

    class backend:
        @staticmethod
        def get_pytest_id() -> str:
            return "local://test"

    def __init__(self) -> None:
        self.commands: list[str] = []

    def check_output(self, command: str) -> str:
        self.commands.append(command)
        return subprocess.run(
            ["sh", "-c", command], capture_output=True, text=True, check=True
        ).stdout.strip()


def test_a_script_is_written_to_a_testinfra_host_once_then_run_as_a_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(remote, "SCRIPTS_DIR", str(tmp_path / "scripts"))
    monkeypatch.setattr(remote, "_installed", set())
    host = LocalHost()
    first = remote.command(host, "probe.py", "port-open", "127.0.0.1", free_tcp_port())
    second = remote.command(host, "probe.py", "healthz", "/run/x y.sock")
    installed = Path(remote.remote_path("probe.py"))
    assert installed.read_bytes() == remote.path("probe.py").read_bytes()
    assert installed.name.startswith("probe-") and installed.suffix == ".py"
    assert len(host.commands) == 1, "written once per host"
    assert second.endswith(f"{installed} healthz '/run/x y.sock'")
    assert host.check_output(first.replace("python3", sys.executable, 1)) == (
        "ConnectionRefusedError"
    )


def test_only_the_scripts_of_the_folder_can_be_named() -> None:
    with pytest.raises(ValueError, match="no host-side script"):
        remote.path("../stats.py")


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([], {"p50": None, "p99": None, "max": None}),
        ([3.0], {"p50": 3.0, "p99": 3.0, "max": 3.0}),
        (list(range(1, 101)), {"p50": 50, "p99": 99, "max": 100}),
        ([4.0, 1.0, 3.0, 2.0], {"p50": 2.0, "p99": 4.0, "max": 4.0}),
    ],
)
def test_percentiles_are_nearest_rank(values: list[float], expected: dict) -> None:
    assert stats.percentiles(values, (50, 99)) == expected


def test_percentile_keys_and_rounding() -> None:
    summary = stats.percentiles([0.12345678], (99.9,), digits=3)
    assert summary == {"p999": 0.123, "max": 0.123}


@pytest.mark.parametrize(
    ("counts", "expected"),
    [([300, 300, 400], 1.2), ([500, 500], 1.0), ([0, 0], None), ([], None)],
)
def test_balance_is_the_busiest_over_the_mean(counts: list[int], expected: float | None) -> None:
    assert stats.balance(counts) == pytest.approx(expected)


PLAYBOOK_OUTPUT = """
TASK [wsfleet.deploy.firewall : Load the rules now and at every boot, or remove them] ***
ok: [edge1]
changed: [edge2]

TASK [wsfleet.deploy.certbot : Obtain the certificate] *************************
changed: [edge1 -> localhost]

RUNNING HANDLER [wsfleet.deploy.router : Reload] *******************************
changed: [edge1] => (item=nginx)

PLAY RECAP *********************************************************************
edge1                      : ok=27   changed=2    unreachable=0    failed=0
edge2                      : ok=27   changed=1    unreachable=0    failed=0
"""


def test_a_run_s_changed_tasks_are_named_with_their_host():
    assert playbooks.changed_tasks(PLAYBOOK_OUTPUT) == [
        "edge2: wsfleet.deploy.firewall : Load the rules now and at every boot, or remove them",
        "edge1 -> localhost: wsfleet.deploy.certbot : Obtain the certificate",
        "edge1: wsfleet.deploy.router : Reload",
    ]
    assert playbooks.changed_counts(PLAYBOOK_OUTPUT) == {"edge1": 2, "edge2": 1}
