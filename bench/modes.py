"""Surge in each process manager and binding, measured under load on the bench fleet.

    .venv/bin/python -m bench.modes [--out docs/benchmarks] [--clients 2000] [--keep-fleet]

It brings up the bench fleet (bench/run.py's, wsfleet-bench: 3 app hosts with 2 processes
each, 1 edge) and deploys it with site.yml. Then for each mode, a process manager and a
binding, it switches the fleet to that mode with site.yml (without load, not measured) and
runs a rolling restart under CLIENTS wss:// clients through the edge at 1 message per second.
Per mode it records how each host replaced its processes (surge or in place, from the
hosts' own app_rollout reports), the rolling restart's wall time, what the clients saw
(failed handshakes, abnormal closures, lost messages, closes per client), and the balance a
few seconds after (open connections of every process, read from its /healthz on its own
socket or port). Writes OUT/modes.json and OUT/modes.md.

Load goes only to the fleet's own hosts. Timings are measurements, never test assertions.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.run import (
    BALANCE_DELAY_SECONDS,
    PROJECT,
    RUNTIME_DIR,
    SETTLE_SECONDS,
    UNIX_HTTP,
    edge_load,
    fleet_up,
    hosts_of,
    localfleet,
    machine,
    on_host,
    playbook,
    rollout_playbook,
    say,
)
from bench.wsload import LoadRunner, raise_open_files_limit

# (process manager, binding), systemd with unix sockets (the default) last: the fleet ends
# as site.yml leaves it. reuseport cannot surge: it is here as what in place costs.
MODES = (
    ("systemd", "tcp"),
    ("systemd", "reuseport"),
    ("supervisor", "unix"),
    ("supervisor", "tcp"),
    ("systemd", "unix"),
)
SIDE_PORT_BASE = 9001
PROCESSES = 2

# Open connections of every live process of a host, by its own socket or port, as one JSON
# object. Arguments: the runtime folder, the first side port, how many side ports.
PROCESS_COUNTS = (
    UNIX_HTTP
    + r"""
def tcp_health(port):
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
        c.request("GET", "/healthz"); r = c.getresponse()
        return r.status, r.read()
    except Exception:
        return None, b""
answers = {}
for path in glob.glob(os.path.join(sys.argv[1], "*[ab].sock")):
    if not os.path.islink(path):
        answers[os.path.basename(path)] = health(path)
first, count = int(sys.argv[2]), int(sys.argv[3])
for port in range(first, first + count):
    answers[str(port)] = tcp_health(port)
print(json.dumps({
    name: json.loads(body)["connections"] for name, (status, body) in answers.items()
    if status == 200
}))
"""
)


def mode_vars(manager: str, bind: str) -> list[str]:
    settings = {
        "wsfleet_app_process_manager": manager,
        "wsfleet_app_bind": bind,
        "wsfleet_app_processes": PROCESSES,
    }
    return ["-e", json.dumps(settings)]


def process_connections() -> dict[str, int]:
    """Open connections of every live process of every app host, by host/socket-or-port.
    With reuseport the processes have no address of their own: none are read."""
    counts = {}
    for host in hosts_of("app"):
        out = on_host(
            host["address"],
            PROCESS_COUNTS,
            RUNTIME_DIR,
            str(SIDE_PORT_BASE),
            str(2 * PROCESSES),
        )
        counts.update({f"{host['name']}/{name}": n for name, n in json.loads(out).items()})
    return counts


def balance(counts: dict[str, int]) -> float | None:
    """The busiest process's connections over the mean, or None without per-process counts."""
    if not counts or not sum(counts.values()):
        return None
    return round(max(counts.values()) / (sum(counts.values()) / len(counts)), 2)


def measure_mode(manager: str, bind: str, clients: int) -> dict:
    say(f"{manager} with {bind} binding: site.yml")
    playbook("site.yml", *mode_vars(manager, bind))
    say(f"{manager} with {bind} binding: rolling restart under {clients} clients")
    runner = LoadRunner(edge_load(clients, 1.0))
    runner.start()
    try:
        runner.wait_connected(timeout=clients / 40 + 60)
        time.sleep(SETTLE_SECONDS)
        restart = rollout_playbook("playbooks/rolling_restart.yml", *mode_vars(manager, bind))
        time.sleep(BALANCE_DELAY_SECONDS)
        counts = process_connections() if bind != "reuseport" else {}
        report = runner.stop()
    except BaseException:
        runner.stop()
        raise
    return {
        "process_manager": manager,
        "bind": bind,
        "replaced": sorted({host["mode"] for host in restart["hosts"].values()}),
        "wall_seconds": round(restart["wall_seconds"], 2),
        "clients": clients,
        "handshakes_failed": report.handshakes_failed,
        "abnormal_closures": report.abnormal_closures,
        "messages_sent": report.messages_sent,
        "messages_lost": report.messages_lost,
        "server_closes": dict(report.server_closes),
        "closes_per_client": round(report.server_closes.total() / clients, 2),
        "connections_after": counts,
        "balance_after": balance(counts),
        "rollout": restart,
    }


def markdown(results: dict) -> str:
    lines = [
        "# Surge in each process manager and binding",
        "",
        f"Made by `{results['command']}` on {results['started']} "
        f"({results['machine']['cpus']} CPUs), {results['clients']} wss:// clients through the "
        "edge at 1 message/s, a rolling restart of 3 app hosts x 2 processes "
        "(`serial: 1`) in each mode. Balance: the busiest process's open connections over the "
        "mean, a few seconds after the restart.",
        "",
        "| manager | binding | replaced | wall (s) | failed handshakes | abnormal closures "
        "| lost / sent | closes per client | balance after |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for mode in results["modes"]:
        balance_after = "-" if mode["balance_after"] is None else f"{mode['balance_after']:.2f}"
        lines.append(
            f"| {mode['process_manager']} | {mode['bind']} | {', '.join(mode['replaced'])} "
            f"| {mode['wall_seconds']:.1f} | {mode['handshakes_failed']} "
            f"| {mode['abnormal_closures']} | {mode['messages_lost']} / {mode['messages_sent']:,} "
            f"| {mode['closes_per_client']:.2f} | {balance_after} |"
        )
    lines += [
        "",
        "With `reuseport` every process shares one port, so no process can be reached on its "
        "own: it is replaced in place and has no balance figure.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", default=str(PROJECT / "docs" / "benchmarks"))
    parser.add_argument("--clients", type=int, default=2000)
    parser.add_argument("--keep-fleet", action="store_true", help="leave the fleet up afterwards")
    args = parser.parse_args(argv)
    raise_open_files_limit()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = {
        "command": "python -m bench.modes " + " ".join(argv if argv is not None else sys.argv[1:]),
        "started": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": machine(),
        "clients": args.clients,
        "modes": [],
    }
    try:
        fleet_up(fresh=True)
        playbook("site.yml")
        for manager, bind in MODES:
            results["modes"].append(measure_mode(manager, bind, args.clients))
            (out / "modes.json").write_text(json.dumps(results, indent=1) + "\n")
            (out / "modes.md").write_text(markdown(results))
    finally:
        if not args.keep_fleet:
            localfleet("down", check=False)
    say(f"report: {out / 'modes.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
