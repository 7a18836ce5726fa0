# Installed by wsfleet.deploy (haproxy role) when a reload's old process has a bound
# (wsfleet_router_shutdown_timeout, HAProxy's hard-stop-after) and a spread window
# (wsfleet_haproxy_close_spread).
#
# usage: python3 wsfleet-haproxy-close-spread.py --master-socket PATH --bound SECONDS
#                                                --spread SECONDS [--interval SECONDS]
#
# After a reload, the old HAProxy process keeps its WebSockets until hard-stop-after cuts every
# one still open at once, and all their clients reconnect in the same second. HAProxy 2.6's
# close-spread-time spreads idle and HTTP connections only, not WebSocket tunnels. So this
# service asks the master CLI for the old processes (show proc), and in the last SPREAD seconds
# before each one's bound closes its remaining sessions a few at a time (@!PID show sess,
# shutdown session), evenly, so that their reconnects arrive spread over the window.
from __future__ import annotations

import argparse
import math
import re
import socket
import sys
import time
from dataclasses import dataclass

# The sessions of the CLI itself (the master's own connection to the worker) are not clients.
CLI_FRONTENDS = ("GLOBAL", "MASTER")
UPTIME = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
SESSION = re.compile(r"^(0x[0-9a-f]+): .*\bfe=(\S+)")
# Commands sent on one master CLI connection: a line holds several, separated by ';'.
COMMANDS_PER_LINE = 50
SOCKET_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class Worker:
    pid: int
    old: bool
    uptime: int


def closes_due(remaining: int, elapsed: float, bound: float, spread: float, interval: float) -> int:
    """How many of an old process's `remaining` sessions to close now, `elapsed` seconds after
    the reload that made it old, polled every `interval` seconds, so that they end evenly over
    the last `spread` seconds before `bound` (when HAProxy's hard-stop-after cuts the rest).

    Each poll closes its share of what is left: the sessions that end on their own meanwhile
    lower the later shares, and a poll that comes late catches up."""
    if remaining <= 0 or spread <= 0 or elapsed < bound - spread:
        return 0
    # The polls left before the bound, this one included; the last one closes everything.
    polls_left = math.floor((bound - interval - elapsed) / interval) + 1
    if polls_left <= 1:
        return remaining
    return math.ceil(remaining / polls_left)


def uptime_seconds(text: str) -> int:
    """'0d00h02m07s' (show proc's uptime) in seconds."""
    match = UPTIME.match(text)
    if not match or not text:
        raise ValueError(f"not an uptime: {text!r}")
    days, hours, minutes, seconds = (int(part or 0) for part in match.groups())
    return ((days * 24 + hours) * 60 + minutes) * 60 + seconds


def parse_workers(show_proc: str) -> list[Worker]:
    """The workers of `show proc` (current and old), with their uptimes."""
    workers, section = [], ""
    for line in show_proc.splitlines():
        if line.startswith("#"):
            section = line.strip("# ").lower()
            continue
        fields = line.split()
        if len(fields) >= 4 and fields[0].isdigit() and fields[1] == "worker":
            old = section == "old workers"
            workers.append(Worker(int(fields[0]), old, uptime_seconds(fields[3])))
    return workers


def seconds_old(workers: list[Worker]) -> dict[int, int]:
    """For each old worker, seconds since the reload that replaced it: the uptime of the
    worker started just after it (uptimes tell the order without any state kept here)."""
    result = {}
    for worker in workers:
        if not worker.old:
            continue
        younger = [other.uptime for other in workers if other.uptime < worker.uptime]
        # Two reloads within one second give equal uptimes: then it is old since the youngest.
        result[worker.pid] = max(younger) if younger else 0
    return result


def client_sessions(show_sess: str) -> list[str]:
    """The ids of the sessions of `show sess` that are not the CLI's own."""
    ids = []
    for line in show_sess.splitlines():
        match = SESSION.match(line.strip())
        if match and match.group(2) not in CLI_FRONTENDS:
            ids.append(match.group(1))
    return ids


def master_cli(path: str, line: str) -> str:
    """One line of commands to HAProxy's master CLI, and its whole answer."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
        connection.settimeout(SOCKET_TIMEOUT_SECONDS)
        connection.connect(path)
        connection.sendall(line.encode() + b"\n")
        # The end of the commands: the master answers, then closes.
        connection.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := connection.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks).decode(errors="replace")


def close_sessions(path: str, pid: int, ids: list[str]) -> None:
    for start in range(0, len(ids), COMMANDS_PER_LINE):
        batch = ids[start : start + COMMANDS_PER_LINE]
        master_cli(path, "; ".join(f"@!{pid} shutdown session {id_}" for id_ in batch))


def spread_once(args: argparse.Namespace) -> int:
    """One poll: every old worker's due share closed; how many sessions were closed."""
    workers = parse_workers(master_cli(args.master_socket, "show proc"))
    closed = 0
    for pid, elapsed in seconds_old(workers).items():
        if elapsed < args.bound - args.spread:
            continue
        sessions = client_sessions(master_cli(args.master_socket, f"@!{pid} show sess"))
        due = closes_due(len(sessions), elapsed, args.bound, args.spread, args.interval)
        close_sessions(args.master_socket, pid, sessions[:due])
        closed += due
        if due:
            print(f"old worker {pid}, {elapsed} s old: closed {due} of {len(sessions)}", flush=True)
    return closed


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--master-socket", required=True)
    parser.add_argument("--bound", type=float, required=True, help="hard-stop-after, seconds")
    parser.add_argument("--spread", type=float, required=True, help="window before the bound")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between polls")
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    while True:
        try:
            spread_once(args)
        except OSError as error:
            # HAProxy stopped or restarting: its master socket comes back with it.
            print(f"master CLI: {error}", file=sys.stderr, flush=True)
        time.sleep(args.interval)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
