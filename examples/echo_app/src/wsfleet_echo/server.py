"""WebSocket echo and broadcast server that honours the wsfleet app contract.

* ``/`` echoes every message, ``/broadcast`` relays every message to all its clients;
* ``GET /healthz`` reports status, version, release, instance and open connections;
* ``GET /metrics`` gives the process's metrics in Prometheus format;
* at ``WSFLEET_MAX_CONNECTIONS`` open connections, a new handshake gets 503 and Retry-After;
* SIGTERM or SIGINT drains: stop listening, close connections with 1012, exit 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import http
import json
import logging
import os
import signal
import socket
import stat
import sys
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from websockets.asyncio.server import Server, ServerConnection, broadcast, serve, unix_serve
from websockets.exceptions import ConnectionClosed
from websockets.frames import CloseCode
from websockets.http11 import Request, Response
from websockets.protocol import State

from . import __version__
from .metrics import METRICS_PATH, Metrics
from .settings import Settings

logger = logging.getLogger("wsfleet_echo")

HEALTH_PATH = "/healthz"
RESTART_REASON = "service restart"
# A full process asks a refused client to wait this long: the router has tried every other
# process already, so an immediate retry would find the fleet just as full.
FULL_RETRY_AFTER_SECONDS = 5
# Any fixed salt: /work's digests only need to cost the same every time.
WORK_SALT = b"wsfleet-work"
# Aborted transports report connection_lost on the next loop iteration; this only
# bounds the wait for that bookkeeping, it is not a second drain period.
ABORT_GRACE_SECONDS = 0.5

Handler = Callable[[ServerConnection], Awaitable[None]]


class EchoApp:
    """Request routing and the state shared by all connections of this process."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.draining = False
        self.broadcast_clients: set[ServerConnection] = set()
        self.routes: dict[str, Handler] = {
            "/": self.echo,
            "/broadcast": self.relay,
            "/work": self.work,
        }
        self.metrics = Metrics(
            release=settings.release,
            instance=settings.instance,
            version=__version__,
            max_connections=settings.max_connections,
        )

    def process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        """Answer health checks, metrics, unknown paths and a full process's refusals before
        any WebSocket handshake."""
        path = urlsplit(request.path).path
        if path == HEALTH_PATH:
            return self.health_response(connection)
        if path == METRICS_PATH:
            return self.metrics_response(connection)
        if path not in self.routes:
            return connection.respond(http.HTTPStatus.NOT_FOUND, "Not Found\n")
        if self.is_full(connection.server):
            return self.full_response(connection)
        return None

    def process_response(
        self, connection: ServerConnection, request: Request, response: Response
    ) -> None:
        """Count the handshakes at WebSocket paths by their answer."""
        if urlsplit(request.path).path in self.routes:
            self.metrics.handshakes.labels(code=str(response.status_code)).inc()

    def is_full(self, server: Server) -> bool:
        # Exact: no await between this check and the handshake's 101, so concurrent
        # handshakes cannot all slip under the cap.
        cap = self.settings.max_connections
        return cap > 0 and len(server.connections) >= cap

    def full_response(self, connection: ServerConnection) -> Response:
        # 503: both routers try the handshake on another process, and answer it only when
        # every one is full.
        response = connection.respond(http.HTTPStatus.SERVICE_UNAVAILABLE, "Full\n")
        response.headers["Retry-After"] = str(FULL_RETRY_AFTER_SECONDS)
        return response

    def metrics_response(self, connection: ServerConnection) -> Response:
        text, content_type = self.metrics.render()
        return fresh(connection.respond(http.HTTPStatus.OK, text), content_type)

    def health_response(self, connection: ServerConnection) -> Response:
        # 503 while draining lets a load balancer stop routing here before we exit.
        status = http.HTTPStatus.SERVICE_UNAVAILABLE if self.draining else http.HTTPStatus.OK
        body = {
            "status": "draining" if self.draining else "ok",
            "version": __version__,
            "release": self.settings.release,
            "instance": self.settings.instance,
            "connections": len(connection.server.connections),
            "max_connections": self.settings.max_connections,
        }
        return fresh(connection.respond(status, json.dumps(body) + "\n"), "application/json")

    async def handle(self, connection: ServerConnection) -> None:
        """Run the handler of the path that process_request let through."""
        handler = self.routes[urlsplit(connection.request.path).path]
        # A peer vanishing or a 1012 restart ends a connection by raising; that is
        # routine for a server and must not be logged as a handler failure.
        with contextlib.suppress(ConnectionClosed):
            await handler(connection)

    async def echo(self, connection: ServerConnection) -> None:
        async for message in connection:
            self.metrics.messages_received.inc()
            await connection.send(message)
            self.metrics.messages_sent.inc()

    async def work(self, connection: ServerConnection) -> None:
        """Answer each message with a digest that costs CPU: a profile for capacity tests."""
        async for message in connection:
            self.metrics.messages_received.inc()
            data = message.encode() if isinstance(message, str) else message
            digest = hashlib.pbkdf2_hmac("sha256", data, WORK_SALT, self.settings.work_iterations)
            await connection.send(digest.hex())
            self.metrics.messages_sent.inc()

    async def relay(self, connection: ServerConnection) -> None:
        self.broadcast_clients.add(connection)
        try:
            async for message in connection:
                self.metrics.messages_received.inc()
                # broadcast() never waits for a slow client, so one cannot stall the rest.
                broadcast(self.broadcast_clients, message)
                self.metrics.messages_sent.inc(len(self.broadcast_clients))
        finally:
            self.broadcast_clients.discard(connection)


def fresh(response: Response, content_type: str) -> Response:
    """A response of this content type that no cache keeps: health and metrics are now's."""
    # respond() sets text/plain and Headers.__setitem__ appends, so replace it.
    del response.headers["Content-Type"]
    response.headers["Content-Type"] = content_type
    response.headers["Cache-Control"] = "no-store"
    return response


async def start_listening(app: EchoApp, settings: Settings) -> Server:
    options = {
        "process_request": app.process_request,
        "process_response": app.process_response,
        "ping_interval": settings.ping_interval,
        "ping_timeout": settings.ping_interval,
    }
    if settings.origins:
        # A page from another site may not open a WebSocket with this site's cookies (403).
        # None lets clients that send no Origin, which are not browsers, through.
        options["origins"] = [*settings.origins, None]
    if settings.socket_path is not None:
        remove_stale_socket(settings.socket_path)
        # No chmod: the process manager's UMask decides who may connect.
        server = await unix_serve(app.handle, settings.socket_path, **options)
    else:
        server = await serve(
            app.handle, settings.host, settings.port, reuse_port=settings.reuse_port, **options
        )
    app.metrics.count_open_connections_with(lambda: len(server.connections))
    return server


def remove_stale_socket(path: str) -> None:
    """Remove a socket file left by a previous run, which would make bind() fail."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        # Never delete a regular file someone pointed WSFLEET_SOCKET at by mistake.
        raise FileExistsError(f"{path} exists and is not a socket")
    os.unlink(path)


def remove_own_socket(path: str, inode: int) -> None:
    """Remove our socket file, unless a newer instance has already replaced it."""
    with contextlib.suppress(FileNotFoundError):
        if os.stat(path).st_ino == inode:
            os.unlink(path)


def describe_listeners(server: Server) -> str:
    """Format the addresses actually bound (port 0 and host names get resolved)."""
    names = []
    for sock in server.sockets:
        address = sock.getsockname()
        if sock.family == socket.AF_UNIX:
            names.append(f"unix:{address}")
        elif sock.family == socket.AF_INET6:
            names.append(f"[{address[0]}]:{address[1]}")
        else:
            names.append(f"{address[0]}:{address[1]}")
    return ", ".join(names)


def stop_on_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)


async def stop_accepting(app: EchoApp, server: Server) -> None:
    """Close the listening sockets at once; open connections stay up for now."""
    app.draining = True
    # New clients should go to a sibling instance right away; open connections are
    # closed afterwards with a code that invites them to reconnect.
    server.close(close_connections=False)
    # close() only schedules a task; yield until its first step closed the sockets.
    while server.is_serving():
        await asyncio.sleep(0)


async def close_connections(server: Server, deadline: float) -> tuple[int, int]:
    """Close open connections with 1012 by the deadline; return (closed, aborted)."""
    loop = asyncio.get_running_loop()
    connections = list(server.connections)
    closing = [
        asyncio.create_task(connection.close(CloseCode.SERVICE_RESTART, RESTART_REASON))
        for connection in connections
    ]
    if closing:
        await asyncio.wait(closing, timeout=max(deadline - loop.time(), 0))

    # Clients that ignore the closing handshake must not hold the process hostage.
    stuck = [connection for connection in connections if connection.state is not State.CLOSED]
    for connection in stuck:
        connection.transport.abort()

    # Handshakes still in progress end with a 503 or their open_timeout; don't wait
    # for them past the deadline, exiting closes their sockets anyway.
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(max(deadline - loop.time(), ABORT_GRACE_SECONDS)):
            await server.wait_closed()
    return len(connections), len(stuck)


async def serve_until_stopped(settings: Settings) -> int:
    """Serve until SIGTERM or SIGINT, then drain; return the exit status."""
    stop = asyncio.Event()
    stop_on_signals(stop)
    app = EchoApp(settings)
    try:
        server = await start_listening(app, settings)
    except OSError as exc:
        logger.error("cannot listen on %s: %s", settings.bind_address, exc)
        return 1
    socket_inode = os.stat(settings.socket_path).st_ino if settings.socket_path else None
    logger.info(
        "listening on %s (release %s, instance %s, version %s)",
        describe_listeners(server),
        settings.release,
        settings.instance,
        __version__,
    )

    lag_watch = asyncio.create_task(app.metrics.watch_event_loop_lag())
    await stop.wait()
    lag_watch.cancel()
    loop = asyncio.get_running_loop()
    started = loop.time()
    await stop_accepting(app, server)
    if settings.socket_path is not None and socket_inode is not None:
        remove_own_socket(settings.socket_path, socket_inode)
    closed, aborted = await close_connections(server, started + settings.drain_timeout)
    logger.info(
        "stopped: closed %d connections (%d aborted at the %gs drain timeout) in %.3fs",
        closed,
        aborted,
        settings.drain_timeout,
        loop.time() - started,
    )
    return 0


def configure_logging() -> None:
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    # websockets logs every handshake and its own start and stop at INFO; keep the
    # log to our start and exit lines plus any warning or error.
    logging.getLogger("websockets").setLevel(logging.WARNING)


def main() -> int:
    configure_logging()
    try:
        settings = Settings.from_environ(os.environ)
    except ValueError as exc:
        logger.error("invalid configuration: %s", exc)
        return 2
    return asyncio.run(serve_until_stopped(settings))
