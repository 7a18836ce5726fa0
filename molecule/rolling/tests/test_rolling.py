"""Rolling restarts, deploys and rollbacks under live WebSocket load through the edge.

A few hundred clients hold wss:// connections through the edge, each sending a numbered
message every second and resending what was not echoed after a reconnect (bench/wsload.py).
Every step runs a real playbook while they do, then checks what the clients saw: no failed
handshake, no abnormal closure (1006), only 1001/1012 closes, no lost message.

The steps depend on each other: tests of one module, run in file order.
"""

import json
import re
import time

import pytest

from wsfleet_support import stats
from wsfleet_support.checks import app
from wsfleet_support.checks.edge import remote
from wsfleet_support.checks.live_load import (
    assert_nothing_dropped,
    live_clients,
    open_connections,
)
from wsfleet_support.checks.playbooks import ansible_playbook, run_ok

APPS = app.hosts_of("app")
CLIENTS = 300
# Each client is moved once per rollout (a process replaced once closes its clients once); the
# margin covers a client whose reconnect happened to land on a process not yet replaced.
MAX_CLOSES_PER_CLIENT = 1.05
# Balance after a rollout: the busiest process holds at most this much over the mean.
MAX_OVER_MEAN = 1.25
# A broken release fails its gate after this many more attempts (0.25 s apart by default).
QUICK_GATE = {"wsfleet_app_health_retries": 12}


@pytest.fixture(scope="module")
def broken_release(tmp_path_factory):
    """9.9.0, healthy by its health check but whose echo shouts: it fails the app's WebSocket
    check, which molecule's settings make the echo (wsfleet_check_send: hello, expect ^hello$)."""
    source = app.example_app_at_version(tmp_path_factory, "9.9.0")
    app.rewrite_server(
        source, "await connection.send(message)", "await connection.send(message.upper())"
    )
    return str(source)


def connections_once_everyone_is_back(deadline_seconds=30):
    """Open connections of every process, read once every client has reconnected."""
    deadline = time.monotonic() + deadline_seconds
    while True:
        held = [count for name in APPS for count in open_connections(name)]
        if sum(held) >= CLIENTS or time.monotonic() > deadline:
            return held
        time.sleep(0.5)


def test_a_rolling_restart_under_load_drops_nobody_and_moves_each_client_once():
    before = {name: app.process_pids(name) for name in APPS}
    with live_clients(CLIENTS) as (reports, _runner):
        result = run_ok(
            "playbooks/rolling_restart.yml",
            "--extra-vars",
            json.dumps({"wsfleet_rolling_canary": True, "wsfleet_rolling_serial": "50%"}),
        )
        # Surge replacement: every process's clients went to its successor, so each process
        # still holds about its share (a plain restart left one process with everything).
        held = connections_once_everyone_is_back()
    assert_nothing_dropped(reports[0])
    report = reports[0]
    assert report.server_closes.total() <= CLIENTS * MAX_CLOSES_PER_CLIENT, report.summary()
    assert stats.balance(held) <= MAX_OVER_MEAN, held
    for name in APPS:
        after = app.process_pids(name)
        # Every process was really restarted, and no process appeared or vanished.
        assert sorted(after) == sorted(before[name])
        assert all(after[number] != before[name][number] for number in after)
        assert f"{name}: release {app.current_release(remote(name))} live" in result.stdout


def test_a_release_that_fails_its_gate_rolls_back_and_stops_the_rollout(broken_release):
    first, *others = APPS
    live = {name: app.current_release(remote(name)) for name in APPS}
    version = live[first].split("-")[0]
    untouched = {name: app.process_pids(name) for name in others}
    with live_clients(CLIENTS) as (reports, _runner):
        result = ansible_playbook(
            "playbooks/deploy.yml",
            wsfleet_app_source_path=broken_release,
            **QUICK_GATE,
        )
    assert result.returncode != 0
    output = result.stdout + result.stderr
    # The failure names the host, the process and the reason.
    assert f"Rollout stopped at {first}, now back on {live[first]}" in output
    assert re.search(rf"serving: process \d+ \({app.APP}\) failed its health gate", output)
    assert "reply 'HELLO' does not match '^hello$'" in output
    # The first host serves the release it ran before; the others were never touched.
    assert app.current_release(remote(first)) == live[first]
    assert app.versions_served(first) == {version}
    assert not remote(first).file("/run/wsfleet-nginx-drain").exists
    for name in others:
        assert app.process_pids(name) == untouched[name]
        assert app.current_release(remote(name)) == live[name]
    # Surge: the broken successor never received a client, so nobody even reconnected.
    assert_nothing_dropped(reports[0], restarted=False)
    assert reports[0].server_closes.total() == 0, reports[0].summary()


def test_the_release_directories_stay_consistent():
    for name in APPS:
        host = remote(name)
        live = app.current_release(host)
        assert host.file(f"{app.BASE_DIR}/releases/{live}/venv/bin/python").exists
        assert not host.file("/run/wsfleet-nginx-drain").exists
