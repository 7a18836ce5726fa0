"""Fixtures that run the real example app (examples/echo_app) as a subprocess, for the tests
of the app (tests/app) and of the load generator (tests/bench): their conftest.py import them.

Nothing is mocked: each test starts ``python -m wsfleet_echo`` from the source tree,
waits until its health check answers, and talks to it over TCP or a unix socket.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from websockets.sync.client import ClientConnection, connect, unix_connect

from wsfleet_support.paths import EXAMPLE_APP
from wsfleet_support.remote.probe import UnixHTTPConnection

# The tests run the app from its source tree, without installing it (pytest.ini puts it on
# the tests' path; the app's processes get it in PYTHONPATH).
APP_SRC = EXAMPLE_APP / "src"

STARTUP_TIMEOUT = 20.0
POLL_INTERVAL = 0.05
# Extra time allowed on top of the app's drain timeout for interpreter shutdown
# and a loaded CI machine; only a hang should ever exceed it.
EXIT_MARGIN = 10.0
# Applies to every blocking client operation so that a bug fails instead of hanging.
CLIENT_TIMEOUT = 10.0


def free_tcp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class HTTPReply:
    status: int
    content_type: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)

    def json(self) -> dict:
        return json.loads(self.body)


@dataclass
class EchoServer:
    """One running app process and the ways to reach it."""

    process: subprocess.Popen
    log_path: Path
    drain_timeout: float
    port: int | None = None
    socket_path: str | None = None
    opened: list[socket.socket] = field(default_factory=list)

    # -- reaching the server -------------------------------------------------

    def uri(self, path: str = "/") -> str:
        if self.socket_path is not None:
            return f"ws://localhost{path}"
        return f"ws://127.0.0.1:{self.port}{path}"

    def connect(self, path: str = "/", **options) -> ClientConnection:
        """Open a WebSocket client; use it as a context manager."""
        options = {"open_timeout": CLIENT_TIMEOUT, "close_timeout": CLIENT_TIMEOUT, **options}
        if self.socket_path is not None:
            return unix_connect(self.socket_path, self.uri(path), **options)
        return connect(self.uri(path), **options)

    def connect_from(self, origin: str, path: str = "/") -> ClientConnection:
        """A WebSocket client sending the Origin header a browser page on origin would."""
        return self.connect(path, origin=origin)

    def open_socket(self) -> socket.socket:
        """Open a raw stream socket to the server; closed at teardown."""
        if self.socket_path is not None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            address: str | tuple[str, int] = self.socket_path
        else:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            address = ("127.0.0.1", self.port or 0)
        self.opened.append(sock)
        sock.settimeout(CLIENT_TIMEOUT)
        sock.connect(address)
        return sock

    def open_unresponsive_client(self, path: str = "/") -> socket.socket:
        """Complete a WebSocket handshake on a raw socket that then never reads.

        Such a client never answers the server's close frame, like a peer whose
        network vanished or whose event loop is stuck.
        """
        sock = self.open_socket()
        sock.sendall(
            f"GET {path} HTTP/1.1\r\n"
            "Host: localhost\r\n"
            "Upgrade: websocket\r\n"
            "Connection: Upgrade\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            "Sec-WebSocket-Version: 13\r\n"
            "\r\n".encode()
        )
        response = b""
        while b"\r\n\r\n" not in response:
            chunk = sock.recv(4096)
            assert chunk, f"connection closed during the handshake: {response!r}"
            response += chunk
        assert response.startswith(b"HTTP/1.1 101 "), response
        return sock

    def http_get(self, path: str) -> HTTPReply:
        if self.socket_path is not None:
            conn: http.client.HTTPConnection = UnixHTTPConnection(self.socket_path, CLIENT_TIMEOUT)
        else:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=CLIENT_TIMEOUT)
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            return HTTPReply(
                response.status,
                response.getheader("Content-Type", ""),
                response.read(),
                dict(response.getheaders()),
            )
        finally:
            conn.close()

    def health(self) -> dict:
        reply = self.http_get("/healthz")
        assert reply.status == 200, reply
        return reply.json()

    # -- lifecycle -----------------------------------------------------------

    def wait_ready(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"server exited with {self.process.returncode}:\n{self.log()}")
            with contextlib.suppress(OSError, http.client.HTTPException):
                if self.http_get("/healthz").status == 200:
                    return
            time.sleep(POLL_INTERVAL)
        pytest.fail(f"server not ready after {STARTUP_TIMEOUT}s:\n{self.log()}")

    def terminate(self, signum: int = signal.SIGTERM) -> None:
        self.process.send_signal(signum)

    def wait_exit(self) -> int:
        """Wait for the exit status, allowing the drain timeout plus a margin."""
        try:
            return self.process.wait(timeout=self.drain_timeout + EXIT_MARGIN)
        except subprocess.TimeoutExpired:
            pytest.fail(f"server still running after the drain timeout:\n{self.log()}")

    def wait_until_refusing(self) -> None:
        """Poll until a new connection is refused: the listening socket is closed."""
        deadline = time.monotonic() + CLIENT_TIMEOUT
        while time.monotonic() < deadline:
            try:
                self.open_socket().close()
            except OSError:
                return
            time.sleep(POLL_INTERVAL)
        pytest.fail("server still accepts connections after SIGTERM")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        for sock in self.opened:
            sock.close()
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()


StartServer = Callable[..., EchoServer]


@pytest.fixture
def short_tmp_dir() -> Iterator[Path]:
    """A directory under /tmp whose paths stay far below the unix socket limit."""
    path = Path(tempfile.mkdtemp(prefix="wsf-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def start_server(tmp_path: Path, short_tmp_dir: Path) -> Iterator[StartServer]:
    """Start app processes on demand; every one is killed at teardown if still alive."""
    servers: list[EchoServer] = []

    def start(
        *,
        unix: bool = False,
        port: int | None = None,
        drain_timeout: float = 5.0,
        wait: bool = True,
        name: str = "app",
        **env: str,
    ) -> EchoServer:
        environ = {k: v for k, v in os.environ.items() if not k.startswith("WSFLEET_")}
        environ["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str(APP_SRC), os.environ.get("PYTHONPATH")])
        )
        environ["WSFLEET_DRAIN_TIMEOUT"] = str(drain_timeout)
        socket_path = str(short_tmp_dir / f"{name}.sock") if unix else None
        if socket_path is not None:
            environ["WSFLEET_SOCKET"] = socket_path
        else:
            port = port or free_tcp_port()
            environ["WSFLEET_PORT"] = str(port)
        environ.update(env)

        log_path = tmp_path / f"{name}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "wsfleet_echo"],
                cwd=tmp_path,
                env=environ,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        server = EchoServer(process, log_path, drain_timeout, port, socket_path)
        servers.append(server)
        if wait:
            server.wait_ready()
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture(params=["tcp", "unix"])
def transport(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def server(start_server: StartServer, transport: str) -> EchoServer:
    """A running app, once over TCP and once over a unix socket."""
    return start_server(unix=transport == "unix")
