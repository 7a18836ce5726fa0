"""The load generator against the real echo app on loopback: no mocks.

The assertions are about accounting (every message sent is acknowledged or lost,
every close is counted once) and never about how fast anything was; timeouts only
keep a bug from hanging the suite.
"""

from __future__ import annotations

import asyncio
import json
import signal
import ssl
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from websockets.sync.server import ServerConnection, serve

from wsfleet_support.wsload import LoadConfig, LoadRunner, Report, run_load

REPO_ROOT = Path(__file__).resolve().parents[2]
WAIT_TIMEOUT = 20.0
POLL_INTERVAL = 0.05
# Values that make a run quick on loopback; the tests never assert on timings.
FAST = {"reconnect_jitter": 0.2, "handshake_timeout": 5.0, "backoff_max": 0.3}


def wait_for(runner: LoadRunner, condition: Callable[[Report], bool], what: str) -> Report:
    """Poll snapshots of a running load until condition holds."""
    deadline = time.monotonic() + WAIT_TIMEOUT
    while True:
        report = runner.snapshot()
        if condition(report):
            return report
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}:\n{report.summary()}")
        time.sleep(POLL_INTERVAL)


def assert_accounting_consistent(report: Report) -> None:
    """Invariants of every final report, whatever happened during the run."""
    assert report.final
    assert report.messages_acknowledged + report.messages_lost == report.messages_sent
    assert len(report.lost_sample) == min(report.messages_lost, 20)
    assert report.duplicates == 0
    assert report.unexpected == 0
    assert report.handshakes_failed == report.handshake_failures.total()
    assert report.abnormal_closures == report.server_closes["1006"]
    assert report.server_close_reasons.total() == report.server_closes.total()
    assert len(report.reconnect_delays) == report.reconnects
    assert report.open_connections == 0
    assert report.timeline[-1].open == 0
    assert max(second.peak_open for second in report.timeline) == report.peak_open_connections
    assert sum(second.handshakes for second in report.timeline) == report.handshakes_ok
    assert sum(second.reconnects for second in report.timeline) == report.reconnects
    assert sum(s.server_closes for s in report.timeline) == report.server_closes.total()
    assert sum(s.acknowledged for s in report.timeline) == report.messages_acknowledged
    # The JSON report must survive a round trip.
    assert json.loads(json.dumps(report.to_dict()))["messages_sent"] == report.messages_sent


def assert_nothing_lost(report: Report) -> None:
    assert report.messages_sent > 0
    assert report.messages_lost == 0, report.lost_sample
    assert report.messages_acknowledged == report.messages_sent


def assert_latency_reported(report: Report) -> None:
    latency = report.latency
    assert set(latency) == {"p50", "p90", "p99", "p999", "max"}
    assert latency["p50"] is not None
    assert latency["p50"] <= latency["p90"] <= latency["p99"] <= latency["p999"] <= latency["max"]


# -- steady load ---------------------------------------------------------------


def test_steady_load_acknowledges_every_message(start_server) -> None:
    server = start_server()
    config = LoadConfig(url=server.uri(), clients=50, rate=20, duration=1.5, ramp_up=0.3)

    report = asyncio.run(run_load(config))

    assert_accounting_consistent(report)
    assert_nothing_lost(report)
    assert_latency_reported(report)
    assert report.clients_connected == report.peak_open_connections == 50
    assert report.handshakes_ok == 50
    assert report.handshakes_failed == 0
    assert report.server_closes.total() == report.reconnects == report.messages_resent == 0
    assert report.reconnect_delay["max"] is None
    # Every client closed its connection at the end (server bookkeeping may lag a little).
    deadline = time.monotonic() + WAIT_TIMEOUT
    while server.health()["connections"] and time.monotonic() < deadline:
        time.sleep(POLL_INTERVAL)
    assert server.health()["connections"] == 0


def test_unix_socket(start_server) -> None:
    server = start_server(unix=True)
    config = LoadConfig(
        url="ws://localhost/", unix_socket=server.socket_path, clients=20, rate=20, duration=1
    )

    report = asyncio.run(run_load(config))

    assert_accounting_consistent(report)
    assert_nothing_lost(report)
    assert report.clients_connected == 20
    assert report.handshakes_failed == 0


def test_connect_to_overrides_name_resolution(start_server) -> None:
    server = start_server()
    # .invalid never resolves (RFC 2606): connecting at all proves connect_to was used.
    config = LoadConfig(
        url="ws://wsload.invalid/", connect_to=f"127.0.0.1:{server.port}", clients=5, duration=1
    )

    report = asyncio.run(run_load(config))

    assert_accounting_consistent(report)
    assert report.clients_connected == 5
    assert report.handshakes_failed == 0


# -- restarts and failures -------------------------------------------------------


def test_graceful_restart_under_load_loses_nothing(start_server, start_load) -> None:
    clients = 30
    server = start_server()
    runner = start_load(url=server.uri(), clients=clients, rate=20, **FAST)
    runner.wait_connected(WAIT_TIMEOUT)
    wait_for(runner, lambda r: r.messages_acknowledged >= clients, "echoes before the restart")

    server.terminate(signal.SIGTERM)
    assert server.wait_exit() == 0
    # Clients retry while nothing listens: those attempts must be counted as refused.
    wait_for(runner, lambda r: r.handshakes_failed > 0, "refused reconnects")
    start_server(port=server.port, name="app2")
    during = wait_for(
        runner,
        lambda r: r.reconnects == clients and r.open_connections == clients,
        "every client to reconnect",
    )
    wait_for(
        runner,
        lambda r: r.messages_acknowledged > during.messages_acknowledged + clients,
        "echoes after the restart",
    )
    report = runner.stop()

    assert_accounting_consistent(report)
    assert_nothing_lost(report)
    assert report.server_closes == Counter({"1012": clients})
    assert report.server_close_reasons == Counter({"1012 service restart": clients})
    assert report.abnormal_closures == 0
    assert report.reconnects == clients
    assert report.reconnect_delay["max"] is not None
    assert report.handshakes_ok == clients + report.reconnects
    assert report.handshake_failures["connection refused"] > 0
    assert report.clients_connected == report.peak_open_connections == clients


def test_killed_server_counts_abnormal_closures_and_resends(start_server, start_load) -> None:
    clients = 20
    server = start_server()
    runner = start_load(url=server.uri(), clients=clients, rate=20, **FAST)
    runner.wait_connected(WAIT_TIMEOUT)

    # A stopped server still receives messages but never echoes them, so messages
    # are certainly in flight when it dies.
    server.terminate(signal.SIGSTOP)
    wait_for(runner, lambda r: r.messages_lost >= clients, "messages to pile up unanswered")
    server.terminate(signal.SIGKILL)
    server.process.wait()
    at_kill = wait_for(
        runner, lambda r: r.server_closes["1006"] == clients, "closes of the killed server"
    )
    start_server(port=server.port, name="app2")
    wait_for(runner, lambda r: r.reconnects == clients, "every client to reconnect")
    report = runner.stop()

    assert_accounting_consistent(report)
    assert_nothing_lost(report)
    assert report.server_closes == Counter({"1006": clients})
    assert report.abnormal_closures == clients
    assert report.reconnects == clients
    # Everything unanswered at the kill went out again on the new connections.
    assert report.messages_resent >= at_kill.messages_lost > 0


def test_messages_of_a_dead_server_are_reported_lost(start_server, start_load) -> None:
    clients = 5
    server = start_server()
    runner = start_load(url=server.uri(), clients=clients, rate=20, grace=0.3, **FAST)
    runner.wait_connected(WAIT_TIMEOUT)
    server.terminate(signal.SIGSTOP)
    wait_for(runner, lambda r: r.messages_lost >= clients, "messages to pile up unanswered")
    server.terminate(signal.SIGKILL)
    server.process.wait()
    wait_for(runner, lambda r: r.server_closes["1006"] == clients, "closes of the killed server")

    report = runner.stop()

    assert_accounting_consistent(report)
    assert report.messages_lost >= clients
    assert all(sample.count(":") == 1 for sample in report.lost_sample)
    assert report.abnormal_closures == clients
    assert report.reconnects == 0


def test_latency_since_a_mark_covers_only_the_later_round_trips(start_server, start_load) -> None:
    server = start_server()
    runner = start_load(url=server.uri(), clients=5, rate=20, **FAST)
    runner.wait_connected(WAIT_TIMEOUT)
    wait_for(runner, lambda r: r.messages_acknowledged >= 50, "round trips before the mark")
    mark = runner.latency_mark()
    assert mark >= 50
    wait_for(runner, lambda r: r.messages_acknowledged >= mark + 50, "round trips after it")
    window = runner.latency_since(mark)
    assert 0 < window["p50"] <= window["p99"] <= window["max"]
    runner.stop()


def test_http_error_is_a_failed_handshake_with_its_status(start_server, start_load) -> None:
    server = start_server()
    runner = start_load(url=server.uri("/no-such-path"), clients=3, **FAST)

    with pytest.raises(TimeoutError, match="0/3 clients connected"):
        runner.wait_connected(0.5)
    wait_for(runner, lambda r: r.handshake_failures["http 404"] >= 6, "retried 404 handshakes")
    report = runner.stop()

    assert_accounting_consistent(report)
    assert set(report.handshake_failures) == {"http 404"}
    assert report.handshakes_ok == report.clients_connected == report.messages_sent == 0


@pytest.mark.parametrize(
    ("target", "reason"),
    [("tcp", "connection refused"), ("unix", "socket not found")],
)
def test_unreachable_server_is_a_failed_handshake(
    start_load, unused_tcp_port, short_tmp_dir, target, reason
) -> None:
    if target == "tcp":
        options = {"url": f"ws://127.0.0.1:{unused_tcp_port}/"}
    else:
        options = {"url": "ws://localhost/", "unix_socket": str(short_tmp_dir / "none.sock")}
    runner = start_load(clients=2, **options, **FAST)

    wait_for(runner, lambda r: r.handshakes_failed >= 4, "retried handshakes")
    report = runner.stop()

    assert_accounting_consistent(report)
    assert set(report.handshake_failures) == {reason}
    assert report.clients_connected == 0


# -- TLS -----------------------------------------------------------------------


@dataclass
class TLSEchoServer:
    ca_file: str
    port: int = 0
    server_names: list[str | None] = field(default_factory=list)
    hosts: list[str] = field(default_factory=list)
    extensions: list[list[str]] = field(default_factory=list)


def make_certificate(directory: Path, name: str) -> tuple[Path, Path]:
    """A self-signed certificate for name, made by the openssl command line tool."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    command = ["openssl", "req", "-x509", "-nodes", "-days", "1", "-subj", f"/CN={name}"]
    command += ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]
    command += ["-addext", f"subjectAltName=DNS:{name}", "-keyout", str(key), "-out", str(cert)]
    subprocess.run(command, check=True, capture_output=True)
    return cert, key


@pytest.fixture
def tls_echo_server(tmp_path: Path) -> Iterator[TLSEchoServer]:
    """An echo server with a self-signed certificate for wsload.test, in this process."""
    cert, key = make_certificate(tmp_path, "wsload.test")
    state = TLSEchoServer(str(cert))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    context.sni_callback = lambda _sock, name, _ctx: state.server_names.append(name)

    def echo(connection: ServerConnection) -> None:
        state.hosts.append(connection.request.headers["Host"])
        state.extensions.append([ext.name for ext in connection.protocol.extensions])
        for message in connection:
            connection.send(message)

    with serve(echo, "127.0.0.1", 0, ssl=context) as server:
        state.port = server.socket.getsockname()[1]
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        yield state
        server.shutdown()
        thread.join(WAIT_TIMEOUT)


def test_tls_with_connect_to_keeps_the_url_host_for_sni_and_host(tls_echo_server) -> None:
    server = tls_echo_server
    config = LoadConfig(
        url=f"wss://wsload.test:{server.port}/",
        connect_to="127.0.0.1",
        ca_file=server.ca_file,
        headers={"X-Load-Test": "1"},
        compression=False,
        clients=5,
        rate=10,
        duration=1,
    )

    report = asyncio.run(run_load(config))

    assert_accounting_consistent(report)
    assert_nothing_lost(report)
    assert report.clients_connected == 5
    assert report.handshakes_failed == 0
    assert server.server_names == ["wsload.test"] * 5
    assert server.hosts == [f"wsload.test:{server.port}"] * 5
    assert server.extensions == [[]] * 5, "compression=False must not offer permessage-deflate"


def test_tls_with_an_unknown_ca_is_a_failed_handshake(tls_echo_server, start_load) -> None:
    runner = start_load(
        url=f"wss://wsload.test:{tls_echo_server.port}/", connect_to="127.0.0.1", clients=2
    )

    wait_for(runner, lambda r: r.handshakes_failed >= 2, "failed TLS handshakes")
    report = runner.stop()

    assert report.clients_connected == 0
    reasons = set(report.handshake_failures)
    assert reasons, "no failure recorded"
    assert all(reason.startswith("tls: certificate verify failed") for reason in reasons), reasons


# -- command line ----------------------------------------------------------------


def test_command_line_prints_a_summary_and_writes_json(start_server, tmp_path: Path) -> None:
    server = start_server()
    output = tmp_path / "report.json"
    result = subprocess.run(
        [
            *(sys.executable, "-m", "bench.wsload", "--url", server.uri(), "--clients", "5"),
            *("--rate", "10", "--duration", "1", "--ramp", "0.2", "--json", str(output)),
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=WAIT_TIMEOUT,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert " 0 lost" in result.stdout
    data = json.loads(output.read_text())
    assert data["clients_connected"] == 5
    assert data["messages_lost"] == 0
    assert data["messages_acknowledged"] == data["messages_sent"] > 0
    assert data["timeline"][0]["second"] == 0


# -- an app that is not an echo ----------------------------------------------------------


@pytest.fixture
def room_server() -> Iterator[tuple[int, list[str]]]:
    """A server that speaks as examples/chat_app does: it greets each client, then answers
    each JSON "say" with a "said" carrying its text; only in its subprotocol. Yields its
    port and the paths clients asked for."""
    paths: list[str] = []

    def rooms(connection: ServerConnection) -> None:
        paths.append(connection.request.path)
        if connection.subprotocol != "chat.v1":
            connection.close(1002, "chat.v1 only")
            return
        connection.send(json.dumps({"type": "welcome"}))
        for message in connection:
            request = json.loads(message)
            assert request["type"] == "say"
            connection.send(json.dumps({"type": "said", "text": request["text"]}))

    with serve(rooms, "127.0.0.1", 0, subprotocols=["chat.v1"]) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        yield server.socket.getsockname()[1], paths
        server.shutdown()
        thread.join(WAIT_TIMEOUT)


def test_json_messages_in_a_subprotocol_with_a_greeting_and_a_room_each(room_server) -> None:
    port, paths = room_server
    config = LoadConfig(
        url=f"ws://127.0.0.1:{port}/ws?room=load-{{client}}",
        clients=5,
        rate=20,
        duration=1,
        subprotocols=["chat.v1"],
        message_field="text",
        message_fields={"type": "say"},
    )

    report = asyncio.run(run_load(config))

    assert_accounting_consistent(report)
    assert_nothing_lost(report)
    assert report.notices == report.handshakes_ok == 5
    assert sorted(paths) == [f"/ws?room=load-{client}" for client in range(5)]


def test_message_fields_need_a_message_field() -> None:
    with pytest.raises(ValueError, match="message_fields needs message_field"):
        LoadConfig(url="ws://127.0.0.1/", message_fields={"type": "say"})
