"""wsfleet-chat: chat rooms over WebSockets, for clients that hold a token.

Usage:
  wsfleet-chat [--max-message=<bytes>]
  wsfleet-chat (-h | --help | --version)

Options:
  --max-message=<bytes>  Largest message a client may send [default: 4096].
  -h --help              Show this help.
  --version              Show the version.

Environment (the wsfleet app contract, and the app's own setting):
  WSFLEET_SOCKET         Listen on this unix socket, else on WSFLEET_HOST:WSFLEET_PORT
                         (127.0.0.1:8000), with SO_REUSEPORT when WSFLEET_REUSE_PORT=1.
  WSFLEET_DRAIN_TIMEOUT  Seconds to close every connection on SIGTERM [default: 10].
  WSFLEET_ORIGINS        Origins whose pages may connect, space-separated (default: any).
  CHAT_TOKENS            The bearer tokens clients may present, space-separated.

WebSockets only at /ws, with "Authorization: Bearer <token>" and the chat.v1 subprotocol;
the room is the query's room parameter (default: lobby). GET /healthz answers JSON.

chat.v1 speaks JSON text messages:
  on joining                 {"type": "welcome", "room": ROOM, "members": N}
  {"type": "say", "text": T} {"type": "said", "room": ROOM, "text": T} to every member
  {"type": "status"}         {"type": "status", "ok": true, "room": ROOM, "members": N}
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import http
import json
import logging
import os
import signal
import stat
import sys
from collections import defaultdict
from urllib.parse import parse_qs, urlsplit

from docopt import docopt
from websockets.asyncio.server import Server, ServerConnection, broadcast, serve, unix_serve
from websockets.exceptions import ConnectionClosed
from websockets.frames import CloseCode
from websockets.http11 import Request, Response
from websockets.protocol import State

from . import __version__

logger = logging.getLogger("wsfleet_chat")

SUBPROTOCOL = "chat.v1"
CHAT_PATH = "/ws"
HEALTH_PATH = "/healthz"
DEFAULT_ROOM = "lobby"


class Chat:
    """Who may talk, and who is in which room, in this process."""

    def __init__(self, tokens: list[str]) -> None:
        self.tokens = [token.encode() for token in tokens]
        self.rooms: defaultdict[str, set[ServerConnection]] = defaultdict(set)
        self.draining = False

    def process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        """Health checks, and the refusals that come before any WebSocket handshake."""
        path = urlsplit(request.path).path
        if path == HEALTH_PATH:
            return self.health(connection)
        if path != CHAT_PATH:
            return connection.respond(http.HTTPStatus.NOT_FOUND, "Not Found\n")
        if not self.holds_a_token(request.headers.get("Authorization", "")):
            return connection.respond(http.HTTPStatus.UNAUTHORIZED, "A bearer token is needed\n")
        if SUBPROTOCOL not in offered_subprotocols(request):
            return connection.respond(http.HTTPStatus.BAD_REQUEST, f"Speak {SUBPROTOCOL}\n")
        return None

    def holds_a_token(self, authorization: str) -> bool:
        scheme, _, token = authorization.partition(" ")
        presented = token.strip().encode()
        # compare_digest: how long a comparison takes says nothing about a token.
        matches = [hmac.compare_digest(presented, known) for known in self.tokens]
        return scheme.lower() == "bearer" and any(matches)

    def health(self, connection: ServerConnection) -> Response:
        status = http.HTTPStatus.SERVICE_UNAVAILABLE if self.draining else http.HTTPStatus.OK
        body = {
            "status": "draining" if self.draining else "ok",
            "version": __version__,
            "connections": len(connection.server.connections),
            "rooms": len(self.rooms),
        }
        return connection.respond(status, json.dumps(body) + "\n")

    async def join(self, connection: ServerConnection) -> None:
        """One member of a room, from the welcome to the close."""
        room = parse_qs(urlsplit(connection.request.path).query).get("room", [DEFAULT_ROOM])[0]
        members = self.rooms[room]
        members.add(connection)
        try:
            await connection.send(self.event("welcome", room))
            async for message in connection:
                await self.answer(connection, room, message)
        except ConnectionClosed:
            pass  # a client leaving, or a restart's 1012: routine
        finally:
            members.discard(connection)
            if not members:
                self.rooms.pop(room, None)

    async def answer(self, connection: ServerConnection, room: str, message: str | bytes) -> None:
        request = parse_message(message)
        if request.get("type") == "say" and isinstance(request.get("text"), str):
            # broadcast() never waits for a slow member, so one cannot stall the room.
            said = {"type": "said", "room": room, "text": request["text"]}
            broadcast(self.rooms[room], json.dumps(said))
        elif request.get("type") == "status":
            await connection.send(self.event("status", room, ok=True))
        else:
            await connection.send(json.dumps({"type": "error", "error": "unknown message"}))

    def event(self, kind: str, room: str, **fields: object) -> str:
        return json.dumps({"type": kind, **fields, "room": room, "members": len(self.rooms[room])})


def offered_subprotocols(request: Request) -> list[str]:
    return [
        name.strip()
        for header in request.headers.get_all("Sec-WebSocket-Protocol")
        for name in header.split(",")
    ]


def parse_message(message: str | bytes) -> dict:
    with contextlib.suppress(ValueError):
        request = json.loads(message)
        if isinstance(request, dict):
            return request
    return {}


async def listen(chat: Chat, max_message: int) -> Server:
    origins = os.environ.get("WSFLEET_ORIGINS", "").split()
    options = {
        "process_request": chat.process_request,
        "subprotocols": [SUBPROTOCOL],
        "max_size": max_message,
        # None: clients that are not browsers send no Origin.
        "origins": [*origins, None] if origins else None,
    }
    socket_path = os.environ.get("WSFLEET_SOCKET")
    if socket_path:
        with contextlib.suppress(FileNotFoundError):
            if stat.S_ISSOCK(os.stat(socket_path).st_mode):
                os.unlink(socket_path)  # a previous run's: bind() would fail on it
        return await unix_serve(chat.join, socket_path, **options)
    return await serve(
        chat.join,
        os.environ.get("WSFLEET_HOST") or "127.0.0.1",
        int(os.environ.get("WSFLEET_PORT") or 8000),
        reuse_port=os.environ.get("WSFLEET_REUSE_PORT") in ("1", "true"),
        **options,
    )


async def drain(chat: Chat, server: Server, timeout: float) -> None:
    """Stop listening at once, then close every connection with 1012, all within timeout."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    chat.draining = True
    server.close(close_connections=False)
    # Taken before closing: server.connections lists only the connections still open.
    connections = list(server.connections)
    closing = [
        asyncio.create_task(connection.close(CloseCode.SERVICE_RESTART, "service restart"))
        for connection in connections
    ]
    if closing:
        await asyncio.wait(closing, timeout=max(deadline - loop.time(), 0))
    for connection in connections:
        if connection.state is not State.CLOSED:
            connection.transport.abort()  # a client that never answered the close
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(max(deadline - loop.time(), 0.1)):
            await server.wait_closed()


def forget_socket(path: str, inode: int) -> None:
    """Remove the socket file, unless a successor listens there already (a surge)."""
    with contextlib.suppress(FileNotFoundError):
        if os.stat(path).st_ino == inode:
            os.unlink(path)


async def run(max_message: int) -> int:
    chat = Chat(os.environ.get("CHAT_TOKENS", "").split())
    if not chat.tokens:
        logger.warning("CHAT_TOKENS is empty: every WebSocket handshake gets 401")
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(signum, stop.set)
    server = await listen(chat, max_message)
    socket_path = os.environ.get("WSFLEET_SOCKET")
    inode = os.stat(socket_path).st_ino if socket_path else None
    where = socket_path or server.sockets[0].getsockname()
    logger.info("chat %s listening on %s", __version__, where)
    await stop.wait()
    started = asyncio.get_running_loop().time()
    await drain(chat, server, float(os.environ.get("WSFLEET_DRAIN_TIMEOUT") or 10))
    if socket_path and inode is not None:
        forget_socket(socket_path, inode)
    logger.info("chat stopped in %.3f s", asyncio.get_running_loop().time() - started)
    return 0


def main() -> int:
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(levelname)s %(message)s")
    logging.getLogger("websockets").setLevel(logging.WARNING)
    arguments = docopt(__doc__, version=__version__)
    return asyncio.run(run(int(arguments["--max-message"])))
