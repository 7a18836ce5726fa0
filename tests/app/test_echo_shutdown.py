"""Graceful shutdown on SIGTERM / SIGINT, tested against the real server process."""

from __future__ import annotations

import contextlib
import json
import os
import signal

import pytest
from websockets.exceptions import ConnectionClosedError

RECV_TIMEOUT = 10.0


def assert_closed_for_restart(client) -> None:
    with pytest.raises(ConnectionClosedError) as excinfo:
        client.recv(timeout=RECV_TIMEOUT)
    assert excinfo.value.rcvd is not None, "the server did not send a close frame"
    assert excinfo.value.rcvd.code == 1012
    assert excinfo.value.rcvd.reason == "service restart"


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_closes_every_connection_with_1012_and_exits_0(server, signum) -> None:
    with contextlib.ExitStack() as stack:
        clients = [stack.enter_context(server.connect(path)) for path in ("/", "/", "/broadcast")]
        for client in clients:
            client.send("ready?")
            assert client.recv(timeout=RECV_TIMEOUT) == "ready?"

        server.terminate(signum)
        for client in clients:
            assert_closed_for_restart(client)
        assert server.wait_exit() == 0

    log = server.log()
    assert "listening on" in log
    assert "closed 3 connections" in log


def test_draining_server_refuses_new_connections_and_reports_503(server) -> None:
    # A connection accepted before SIGTERM whose request comes later: it is the only
    # way to observe the health check of a server that no longer listens.
    early = server.open_socket()
    # The server accepts in arrival order, so once a later request is answered the
    # early connection has been accepted too.
    assert server.health()["status"] == "ok"

    server.terminate()
    server.wait_until_refusing()
    # The early connection keeps the drain waiting (for its request, at most until the
    # drain timeout), so the process must still be alive here.
    assert server.process.poll() is None
    if server.socket_path is not None:
        assert not os.path.exists(server.socket_path), "the socket file should be removed"

    early.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
    response = b""
    while chunk := early.recv(4096):
        response += chunk
    # The server waits for the client to close its end before the handler finishes.
    early.close()
    head, _blank_line, body = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 503 ")
    assert b"Content-Type: application/json" in head
    assert json.loads(body)["status"] == "draining"

    assert server.wait_exit() == 0


def test_unresponsive_client_does_not_outlive_the_drain_timeout(start_server, transport) -> None:
    server = start_server(unix=transport == "unix", drain_timeout=2.0)
    server.open_unresponsive_client("/")
    with server.connect("/broadcast") as polite:
        polite.send("ready?")
        assert polite.recv(timeout=RECV_TIMEOUT) == "ready?"
        assert server.health()["connections"] == 2

        server.terminate()
        # The polite client still gets its close frame while the other one stalls.
        assert_closed_for_restart(polite)
        assert server.wait_exit() == 0

    assert "closed 2 connections (1 aborted" in server.log()


def test_exit_without_connections_is_clean(server) -> None:
    server.terminate()
    assert server.wait_exit() == 0
    with pytest.raises(OSError):
        server.open_socket()
    assert "closed 0 connections" in server.log()
