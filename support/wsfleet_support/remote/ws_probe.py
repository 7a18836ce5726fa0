"""Run on an app host with the python of the app's virtualenv (it needs websockets): a real
WebSocket client on one process's unix socket, or on a URL.

    python ws_probe.py echo TARGET           a handshake, a ping/pong, and "ping through TARGET"
                                             echoed back (printed)
    python ws_probe.py latency SOCKET COUNT  COUNT sequential echo round trips (ms, JSON list)

TARGET is a unix socket's path, or a ws:// URL.
"""

from __future__ import annotations

import json
import sys
import time

from websockets.sync.client import ClientConnection, connect, unix_connect

TIMEOUT = 5


def open_client(target: str) -> ClientConnection:
    if target.startswith(("ws://", "wss://")):
        return connect(target, open_timeout=TIMEOUT)
    return unix_connect(target, uri="ws://localhost/", open_timeout=TIMEOUT)


def echo(target: str) -> str:
    with open_client(target) as websocket:
        websocket.ping().wait(TIMEOUT)
        websocket.send(f"ping through {target}")
        return websocket.recv(timeout=TIMEOUT)


def round_trips(target: str, count: int) -> list[float]:
    samples = []
    with open_client(target) as websocket:
        for number in range(count):
            started = time.perf_counter()
            websocket.send(str(number))
            websocket.recv()
            samples.append((time.perf_counter() - started) * 1000)
    return samples


def main(argv: list[str]) -> int:
    command, args = argv[0], argv[1:]
    if command == "echo":
        print(echo(args[0]))
    elif command == "latency":
        print(json.dumps(round_trips(args[0], int(args[1]))))
    else:
        sys.exit(f"ws_probe.py: unknown command {command!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
