"""The haproxy_server module against a stand-in for HAProxy's runtime API on a unix socket."""

import socket
import threading

import pytest
from ansible_collections.wsfleet.deploy.plugins.modules import haproxy_server
from module_runner import run_module

HEADER = "1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state\n"
BITS = {"ready": 0, "drain": 8, "maint": 1}


class FakeRuntimeApi:
    """Answers show servers state, show stat and set server like HAProxy, one command per
    connection, and records every command it was sent."""

    def __init__(self, path, states, refuse=False, health=None):
        self.states, self.refuse, self.commands = dict(states), refuse, []
        # srv_op_state per server: 2 (up) unless told otherwise.
        self.health = dict(health or {})
        self.listener = socket.socket(socket.AF_UNIX)
        self.listener.bind(path)
        self.listener.listen()
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                connection = self.listener.accept()[0]
            except OSError:
                return
            with connection:
                command = connection.recv(4096).decode().strip()
                self.commands.append(command)
                connection.sendall(self.answer(command).encode())

    def answer(self, command):
        if command.startswith("show servers state"):
            rows = [
                f"3 wsfleet_edge {i} {name} 10.0.0.{i} {self.health.get(name, 2)} {BITS[state]}"
                for i, (name, state) in enumerate(self.states.items(), start=1)
            ]
            return HEADER + "\n".join(rows) + "\n\n"
        if command == "show stat":
            rows = [f"wsfleet_edge,{name},4" for name in self.states]
            return "# pxname,svname,scur\n" + "\n".join(rows) + "\n"
        if command.startswith("set server") and not self.refuse:
            target, state = command.split()[2], command.split()[-1]
            self.states[target.split("/")[1]] = state
            return "\n"
        return "Require 'backend/server'.\n"

    def close(self):
        self.listener.close()


@pytest.fixture
def api(tmp_path):
    made = []

    def start(states, refuse=False, health=None):
        made.append(FakeRuntimeApi(str(tmp_path / "admin.sock"), states, refuse, health))
        return made[-1]

    yield start, str(tmp_path / "admin.sock")
    for fake in made:
        fake.close()


def run(path, **args):
    return run_module(haproxy_server.main, socket=path, backend="wsfleet_edge", **args)


def test_drains_the_named_server_and_reports_before_and_after(api):
    start, path = api
    fake = start({"app1": "ready", "app2": "ready"})
    ok, result = run(path, servers=["app1"], state="drain")
    assert ok and result["changed"]
    assert result["servers"] == [
        {"server": "app1", "before": "ready", "after": "drain", "health": "up", "sessions": 4}
    ]
    assert "set server wsfleet_edge/app1 state drain" in fake.commands
    assert fake.states == {"app1": "drain", "app2": "ready"}


def test_a_server_already_in_that_state_is_left_alone(api):
    start, path = api
    fake = start({"app1": "drain", "app2": "ready"})
    ok, result = run(path, servers=["app1"], state="drain")
    assert ok and not result["changed"]
    assert not [command for command in fake.commands if command.startswith("set ")]


def test_no_names_means_every_server(api):
    start, path = api
    fake = start({"app1": "drain", "app2": "drain"})
    ok, result = run(path, state="ready")
    assert ok and result["changed"]
    assert fake.states == {"app1": "ready", "app2": "ready"}


def test_check_mode_reports_and_sends_no_change(api):
    start, path = api
    fake = start({"app1": "ready"})
    ok, result = run(path, servers=["app1"], state="maint", _ansible_check_mode=True)
    assert ok and result["changed"] and result["servers"][0]["after"] == "maint"
    assert fake.states == {"app1": "ready"}


@pytest.mark.parametrize(
    ("states", "servers", "refuse", "message"),
    [
        ({"app1": "ready"}, ["app7"], False, "backend wsfleet_edge has no server app7"),
        ({"app1": "ready"}, ["app1"], True, "HAProxy refused set server wsfleet_edge/app1"),
    ],
)
def test_failures_name_what_went_wrong(api, states, servers, refuse, message):
    start, path = api
    start(states, refuse)
    ok, result = run(path, servers=servers, state="drain")
    assert not ok and message in result["msg"]


def test_no_haproxy_listening_fails_naming_the_socket(tmp_path):
    path = str(tmp_path / "absent.sock")
    ok, result = run(path, state="drain")
    assert not ok and path in result["msg"]


def test_ready_waits_until_the_health_checks_see_the_server_up(api):
    start, path = api
    fake = start({"app1": "drain", "app2": "ready"}, health={"app1": 0})
    # HAProxy's checks see app1 up a moment after it is readied.
    threading.Timer(0.3, fake.health.update, kwargs={"app1": 2}).start()
    ok, result = run(path, servers=["app1"], state="ready", wait_until_up=30)
    assert ok and result["changed"]
    assert result["servers"] == [
        {"server": "app1", "before": "drain", "after": "ready", "health": "up", "sessions": 4}
    ]
    polls = [command for command in fake.commands if command.startswith("show servers state")]
    assert len(polls) >= 2


def test_a_server_still_down_after_the_wait_fails_naming_it(api):
    start, path = api
    fake = start({"app1": "drain", "app2": "drain"}, health={"app2": 0})
    ok, result = run(path, state="ready", wait_until_up=0.6)
    assert not ok and result["msg"] == "wsfleet_edge/app2 not up after 0.6 s of health checks"
    # The state was still changed, and the report says where each server stands.
    assert fake.states == {"app1": "ready", "app2": "ready"}
    assert [row["health"] for row in result["servers"]] == ["up", "down"]


def test_check_mode_does_not_wait(api):
    start, path = api
    start({"app1": "drain"}, health={"app1": 0})
    ok, result = run(path, state="ready", wait_until_up=30, _ansible_check_mode=True)
    assert ok and result["changed"] and result["servers"][0]["health"] == "down"
