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

import json
import sys
import time
from pathlib import Path

from bench.run import (
    BALANCE_DELAY_SECONDS,
    RUNTIME_DIR,
    SETTLE_SECONDS,
    edge_load,
    fleet_down,
    fleet_up,
    hosts_of,
    on_host,
    playbook,
    rollout_playbook,
    say,
)
from wsfleet_support import benchmark, stats
from wsfleet_support.markdown import render
from wsfleet_support.wsload import LoadRunner

TEMPLATES = Path(__file__).resolve().parent / "templates"
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
            "probe.py",
            "process-counts",
            RUNTIME_DIR,
            str(SIDE_PORT_BASE),
            str(2 * PROCESSES),
        )
        counts.update({f"{host['name']}/{name}": n for name, n in json.loads(out).items()})
    return counts


def balance(counts: dict[str, int]) -> float | None:
    """The busiest process's connections over the mean, or None without per-process counts."""
    value = stats.balance(counts.values())
    return None if value is None else round(value, 2)


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
    return render(TEMPLATES, "modes.md.j2", results=results)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = benchmark.parser(__doc__).parse_args(argv)
    out = benchmark.output_folder(args.out)
    results = benchmark.new_results("bench.modes", argv, clients=args.clients, modes=[])

    def measure() -> None:
        fleet_up(fresh=True)
        playbook("site.yml")
        for manager, bind in MODES:
            results["modes"].append(measure_mode(manager, bind, args.clients))
            (out / "modes.json").write_text(json.dumps(results, indent=1) + "\n")
            (out / "modes.md").write_text(markdown(results))

    benchmark.on_fleet(measure, fleet_down, args.keep_fleet)
    say(f"report: {out / 'modes.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
