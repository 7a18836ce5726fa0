"""Run on a fleet host with its python3 (the standard library only), or imported on the
controller: HTTP over one app process's unix socket, and what the benchmarks and checks read
or do with it.

    python3 probe.py healthz SOCKET                   {"status": 200, "body": {...}}
    python3 probe.py healthz-tcp PORT                 the same on 127.0.0.1:PORT
    python3 probe.py metrics SOCKET                   GET /metrics: the Prometheus text
    python3 probe.py sample RUNTIME                   a JSON line of open connections, 4 a second
    python3 probe.py floor APP RUNTIME                every slot replaced by surge, timed (JSON)
    python3 probe.py live-units APP RUNTIME           the live unit of every slot (JSON)
    python3 probe.py process-counts RUNTIME PORT N    open connections by socket or port (JSON)
    python3 probe.py port-open ADDRESS PORT           "open" or the error's name

Each process slot N runs as APP@Na or APP@Nb on RUNTIME/Na.sock or Nb.sock; RUNTIME/N.sock,
where the router connects, is a symlink to the live one.
"""

from __future__ import annotations

import glob
import http.client
import json
import os
import re
import socket
import subprocess
import sys
import time

# The floor waits this long for a new process's health check to answer 200.
HEALTHY_TIMEOUT = 60
SAMPLE_INTERVAL = 0.25


class UnixHTTPConnection(http.client.HTTPConnection):
    """http.client over a unix socket, as a reverse proxy connects to an app process."""

    def __init__(self, path: str, timeout: float = 5.0) -> None:
        super().__init__("localhost", timeout=timeout)
        self.socket_path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self.socket_path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


def get(connection: http.client.HTTPConnection, path: str = "/healthz") -> tuple[int, bytes]:
    """(status, body) of one GET; the connection is closed afterwards."""
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def health(path: str, timeout: float = 1.0) -> tuple[int | None, bytes]:
    """(status, body) of GET /healthz on a unix socket; (None, b"") when it does not answer."""
    try:
        return get(UnixHTTPConnection(path, timeout))
    except (OSError, http.client.HTTPException):
        return None, b""


def tcp_health(port: int, timeout: float = 1.0) -> tuple[int | None, bytes]:
    """The same on a loopback port."""
    try:
        return get(http.client.HTTPConnection("127.0.0.1", port, timeout=timeout))
    except (OSError, http.client.HTTPException):
        return None, b""


def connections(answer: tuple[int | None, bytes]) -> int:
    """Open connections a /healthz answer reports; -1 when it is not a 200 with them."""
    status, body = answer
    try:
        return json.loads(body)["connections"] if status == 200 else -1
    except (ValueError, KeyError, TypeError):
        return -1


def slots(runtime: str) -> list[int]:
    found = (re.fullmatch(r"(\d+)\.sock", name) for name in os.listdir(runtime))
    return sorted(int(match.group(1)) for match in found if match)


def live_side(runtime: str, slot: int) -> str:
    target = os.path.basename(os.readlink(os.path.join(runtime, f"{slot}.sock")))
    return re.fullmatch(rf"{slot}([ab])\.sock", target).group(1)


def live_units(app: str, runtime: str) -> list[str]:
    return [f"{app}@{slot}{live_side(runtime, slot)}.service" for slot in slots(runtime)]


# -- the floor: a surge without Ansible ----------------------------------------------------


def systemctl(*args: str) -> None:
    subprocess.run(["systemctl", *args], check=True, capture_output=True)


def start(unit: str) -> None:
    try:
        systemctl("start", unit)
    except subprocess.CalledProcessError:
        # As the app_rollout module does: a unit at its start limit stays failed until reset.
        subprocess.run(["systemctl", "reset-failed", unit], capture_output=True)
        systemctl("start", unit)


def wait_healthy(path: str) -> None:
    deadline = time.monotonic() + HEALTHY_TIMEOUT
    while health(path)[0] != 200:
        if time.monotonic() > deadline:
            sys.exit(f"{path} not healthy after {HEALTHY_TIMEOUT} s")
        time.sleep(0.01)


def switch(runtime: str, slot: int, side: str) -> None:
    """Point the slot's link at a side: a new link renamed over the old one."""
    link = os.path.join(runtime, f"{slot}.sock")
    temporary = f"{link}.floor-{os.getpid()}"
    os.symlink(f"{slot}{side}.sock", temporary)
    os.rename(temporary, link)


def replace(app: str, runtime: str, slot: int) -> dict:
    """Replace one slot's process by surge, as app_rollout does: start the other side, wait
    for its health check, switch the slot's link, stop the old side; timed step by step."""
    old = live_side(runtime, slot)
    new = "b" if old == "a" else "a"
    t0 = time.monotonic()
    start(f"{app}@{slot}{new}.service")
    wait_healthy(os.path.join(runtime, f"{slot}{new}.sock"))
    t1 = time.monotonic()
    switch(runtime, slot, new)
    t2 = time.monotonic()
    systemctl("stop", f"{app}@{slot}{old}.service")
    t3 = time.monotonic()
    return {
        "process": slot,
        "old_side": old,
        "new_side": new,
        "start_to_healthy_seconds": t1 - t0,
        "switch_seconds": t2 - t1,
        "drain_seconds": t3 - t2,
        "total_seconds": t3 - t0,
    }


def floor(app: str, runtime: str) -> list[dict]:
    return [replace(app, runtime, slot) for slot in slots(runtime)]


# -- counting connections ------------------------------------------------------------------


def sample(runtime: str) -> None:
    """Open connections of every process socket (every side of every slot) as JSON lines,
    until killed; -1 for a socket that is missing or does not answer."""
    known: set[str] = set()
    while True:
        known.update(glob.glob(os.path.join(runtime, "*[ab].sock")))
        counts = {path: connections(health(path)) for path in sorted(known)}
        print(json.dumps(counts), flush=True)
        time.sleep(SAMPLE_INTERVAL)


def process_counts(runtime: str, first_port: int, count: int) -> dict[str, int]:
    """Open connections of every live process, by its own socket (not a slot's link) or by its
    side port; processes that do not answer are left out."""
    answers = {}
    for path in glob.glob(os.path.join(runtime, "*[ab].sock")):
        if not os.path.islink(path):
            answers[os.path.basename(path)] = health(path)
    for port in range(first_port, first_port + count):
        answers[str(port)] = tcp_health(port)
    counted = {name: connections(answer) for name, answer in answers.items()}
    return {name: count for name, count in counted.items() if count >= 0}


def port_open(address: str, port: int) -> str:
    try:
        socket.create_connection((address, port), timeout=5).close()
    except OSError as error:
        return type(error).__name__
    return "open"


def health_report(where: str, answer: tuple[int | None, bytes]) -> str:
    """The answer as JSON; a failure (exit status 1) when nothing answered."""
    status, body = answer
    if status is None:
        sys.exit(f"no answer from {where}")
    return json.dumps({"status": status, "body": json.loads(body)})


def main(argv: list[str]) -> int:
    command, args = argv[0], argv[1:]
    if command == "healthz":
        print(health_report(args[0], health(args[0], timeout=5)))
    elif command == "healthz-tcp":
        print(health_report(f"port {args[0]}", tcp_health(int(args[0]), timeout=5)))
    elif command == "metrics":
        status, body = get(UnixHTTPConnection(args[0], 5.0), "/metrics")
        if status != 200:
            sys.exit(f"GET /metrics on {args[0]} answered {status}")
        sys.stdout.write(body.decode())
    elif command == "get":
        status, body = get(http.client.HTTPConnection(args[0], int(args[1]), timeout=5), args[2])
        if status != 200:
            sys.exit(f"GET {args[2]} on {args[0]}:{args[1]} answered {status}")
        sys.stdout.write(body.decode())
    elif command == "sample":
        sample(args[0])
    elif command == "floor":
        print(json.dumps(floor(args[0], args[1])))
    elif command == "live-units":
        print(json.dumps(live_units(args[0], args[1])))
    elif command == "process-counts":
        print(json.dumps(process_counts(args[0], int(args[1]), int(args[2]))))
    elif command == "port-open":
        print(port_open(args[0], int(args[1])))
    else:
        sys.exit(f"probe.py: unknown command {command!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
