"""A full process refuses handshakes, and every process reports its metrics: the app contract's
capacity part, tested against the real server process."""

from __future__ import annotations

import contextlib
import hashlib

import pytest
from websockets.exceptions import InvalidStatus

from wsfleet_support import prometheus

RECV_TIMEOUT = 10.0


def metric_samples(server) -> dict[prometheus.Sample, float]:
    """The samples of the process's /metrics."""
    reply = server.http_get("/metrics")
    assert reply.status == 200
    assert reply.content_type.startswith("text/plain; version=")
    return prometheus.samples(reply.body.decode())


def refused_status(server, path: str = "/") -> tuple[int, str | None]:
    with pytest.raises(InvalidStatus) as excinfo, server.connect(path):
        pass
    response = excinfo.value.response
    return response.status_code, response.headers.get("Retry-After")


def echoed(client, message: str = "ping") -> None:
    client.send(message)
    assert client.recv(timeout=RECV_TIMEOUT) == message


def test_a_full_process_refuses_handshakes_with_503_and_retry_after(start_server, transport):
    server = start_server(unix=transport == "unix", WSFLEET_MAX_CONNECTIONS="2")
    with contextlib.ExitStack() as stack:
        clients = [stack.enter_context(server.connect(path)) for path in ("/", "/broadcast")]
        assert refused_status(server) == (503, "5")
        assert refused_status(server, "/broadcast") == (503, "5")
        # Full is not unhealthy: the health check still answers 200, with the cap.
        assert server.health()["connections"] == 2
        assert server.health()["max_connections"] == 2
        # Established clients are served as before.
        echoed(clients[0])
        # One leaves: the next handshake is accepted.
        clients[0].close()
        with server.connect("/") as newcomer:
            echoed(newcomer)


def test_without_a_cap_handshakes_are_never_refused_for_fullness(server):
    with contextlib.ExitStack() as stack:
        paths = [f"/?client={number}" for number in range(20)]
        clients = [stack.enter_context(server.connect(path)) for path in paths]
        echoed(clients[-1])
    assert server.health()["max_connections"] == 0


def test_metrics_count_connections_handshakes_and_messages(start_server):
    server = start_server(WSFLEET_MAX_CONNECTIONS="1", WSFLEET_RELEASE="r7", WSFLEET_INSTANCE="2")
    with server.connect("/") as client:
        for number in range(3):
            echoed(client, f"message {number}")
        refused_status(server)
        samples = metric_samples(server)
        assert samples[("wsfleet_app_open_connections", ())] == 1
        assert samples[("wsfleet_app_max_connections", ())] == 1
        assert samples[("wsfleet_app_handshakes_total", (("code", "101"),))] == 1
        assert samples[("wsfleet_app_handshakes_total", (("code", "503"),))] == 1
        assert samples[("wsfleet_app_messages_received_total", ())] == 3
        assert samples[("wsfleet_app_messages_sent_total", ())] == 3
    samples = metric_samples(server)
    assert samples[("wsfleet_app_open_connections", ())] == 0
    info = [labels for name, labels in samples if name == "wsfleet_app_info"]
    assert dict(info[0])["release"] == "r7" and dict(info[0])["instance"] == "2"
    # The process's own figures, which capacity readings put beside the connection count.
    assert samples[("process_resident_memory_bytes", ())] > 0
    assert ("wsfleet_app_event_loop_lag_seconds", ()) in samples
    # Health checks and scrapes are not handshakes.
    assert not any(
        name == "wsfleet_app_handshakes_total" and dict(labels)["code"] == "200"
        for name, labels in samples
    )


def test_a_broadcast_counts_one_message_sent_per_recipient(start_server):
    server = start_server()
    with server.connect("/broadcast") as first, server.connect("/broadcast") as second:
        # Both joined: "sync" reaches them both.
        echoed(second, "sync")
        assert first.recv(timeout=RECV_TIMEOUT) == "sync"
        first.send("to all")
        assert first.recv(timeout=RECV_TIMEOUT) == "to all"
        assert second.recv(timeout=RECV_TIMEOUT) == "to all"
    samples = metric_samples(server)
    assert samples[("wsfleet_app_messages_received_total", ())] == 2
    # "sync" reached its two clients, "to all" its two.
    assert samples[("wsfleet_app_messages_sent_total", ())] == 4


def test_work_answers_each_message_with_its_digest_at_the_set_cost(start_server):
    server = start_server(WSFLEET_WORK_ITERATIONS="10")
    with server.connect("/work") as client:
        client.send("payload")
        expected = hashlib.pbkdf2_hmac("sha256", b"payload", b"wsfleet-work", 10).hex()
        assert client.recv(timeout=RECV_TIMEOUT) == expected
    samples = metric_samples(server)
    assert samples[("wsfleet_app_messages_received_total", ())] == 1
    assert samples[("wsfleet_app_messages_sent_total", ())] == 1
