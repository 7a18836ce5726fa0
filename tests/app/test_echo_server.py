"""The app contract while serving, tested against the real server process."""

from __future__ import annotations

import contextlib
import socket
import time

import pytest
import wsfleet_echo
from websockets.exceptions import InvalidStatus

RECV_TIMEOUT = 10.0


def test_health_check_reports_contract_fields(start_server, transport) -> None:
    server = start_server(
        unix=transport == "unix", WSFLEET_RELEASE="r42", WSFLEET_INSTANCE="blue-1"
    )
    reply = server.http_get("/healthz")
    assert reply.status == 200
    assert reply.content_type == "application/json"
    assert reply.json() == {
        "status": "ok",
        # The subprocess imports the same source tree, so it reports the same version.
        "version": wsfleet_echo.__version__,
        "release": "r42",
        "instance": "blue-1",
        "connections": 0,
        "max_connections": 0,
    }


def test_health_check_ignores_query_string(server) -> None:
    assert server.http_get("/healthz?probe=lb").status == 200


def test_health_check_counts_open_connections(server) -> None:
    with contextlib.ExitStack() as stack:
        clients = [stack.enter_context(server.connect(path)) for path in ("/", "/broadcast")]
        for client in clients:
            # A round trip proves the server registered the connection.
            client.send("ping")
            assert client.recv(timeout=RECV_TIMEOUT) == "ping"
        assert server.health()["connections"] == 2

        # close() returns once the closing handshake is done, so the server knows.
        clients[0].close()
        assert server.health()["connections"] == 1
    assert server.health()["connections"] == 0


def test_root_echoes_text_and_binary(server) -> None:
    messages = ["hello", "ünïcode ✓", "", b"\x00\x01\xfe\xff", bytes(range(256)) * 256]
    with server.connect("/") as client:
        for message in messages:
            client.send(message)
            assert client.recv(timeout=RECV_TIMEOUT) == message


def test_broadcast_reaches_every_broadcast_client(server) -> None:
    with contextlib.ExitStack() as stack:
        echo_client = stack.enter_context(server.connect("/"))
        listeners = []
        for index in range(3):
            newcomer = stack.enter_context(server.connect("/broadcast"))
            listeners.append(newcomer)
            # The newcomer's greeting reaches it only once it is subscribed, and every
            # earlier listener gets it as its next message: the room is in sync.
            newcomer.send(f"hello from {index}")
            for listener in listeners:
                assert listener.recv(timeout=RECV_TIMEOUT) == f"hello from {index}"

        listeners[1].send("news")
        listeners[2].send(b"\x00binary news")
        for listener in listeners:
            assert listener.recv(timeout=RECV_TIMEOUT) == "news"
            assert listener.recv(timeout=RECV_TIMEOUT) == b"\x00binary news"

        # A client on / is not part of the broadcast: its next message is its own echo.
        echo_client.send("only mine")
        assert echo_client.recv(timeout=RECV_TIMEOUT) == "only mine"


def test_unknown_path_is_rejected_with_404(server) -> None:
    with pytest.raises(InvalidStatus) as excinfo, server.connect("/nope"):
        pass
    assert excinfo.value.response.status_code == 404
    assert server.http_get("/nope").status == 404


def test_invalid_configuration_exits_with_status_2(start_server) -> None:
    server = start_server(wait=False, WSFLEET_PORT="not-a-port")
    assert server.wait_exit() == 2
    assert "WSFLEET_PORT" in server.log()


def test_port_in_use_exits_with_status_1(start_server) -> None:
    first = start_server()
    second = start_server(name="second", port=first.port, wait=False)
    assert second.wait_exit() == 1
    assert "cannot listen" in second.log()
    assert first.health()["status"] == "ok"


def test_reuse_port_lets_instances_share_a_port(start_server) -> None:
    first = start_server(name="a", WSFLEET_REUSE_PORT="1", WSFLEET_INSTANCE="a")
    second = start_server(
        name="b", port=first.port, wait=False, WSFLEET_REUSE_PORT="true", WSFLEET_INSTANCE="b"
    )
    # The kernel spreads new connections over both listeners; poll until both answered.
    seen: set[str] = set()
    deadline = time.monotonic() + 20
    while seen != {"a", "b"} and time.monotonic() < deadline:
        assert second.process.poll() is None, second.log()
        with contextlib.suppress(OSError):
            seen.add(first.health()["instance"])
    assert seen == {"a", "b"}


def test_stale_socket_file_is_replaced(start_server, short_tmp_dir) -> None:
    stale = short_tmp_dir / "app.sock"
    # A socket file left behind by a killed process: bound once, nobody listening.
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as previous:
        previous.bind(str(stale))
    server = start_server(unix=True)
    assert server.socket_path == str(stale)
    assert server.health()["status"] == "ok"


def test_socket_path_holding_a_regular_file_is_left_alone(start_server, short_tmp_dir) -> None:
    precious = short_tmp_dir / "app.sock"
    precious.write_text("not a socket")
    server = start_server(unix=True, wait=False)
    assert server.wait_exit() == 1
    assert "not a socket" in server.log()
    assert precious.read_text() == "not a socket"


def test_origins_refuse_pages_of_other_sites(start_server) -> None:
    server = start_server(WSFLEET_ORIGINS="https://chat.example.com https://example.com")
    with pytest.raises(InvalidStatus) as excinfo, server.connect_from("https://evil.example.net"):
        pass
    assert excinfo.value.response.status_code == 403
    with server.connect_from("https://example.com") as websocket:
        websocket.send("mine")
        assert websocket.recv(timeout=5) == "mine"
    # Clients that are not browsers send no Origin: they pass.
    with server.connect() as websocket:
        websocket.send("no origin")
        assert websocket.recv(timeout=5) == "no origin"
