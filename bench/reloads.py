"""Reloads under long-lived clients: ten reloads of the edge's router in a row, each keeping the
clients that arrived before it on its old processes, and what is left after the bound.

    .venv/bin/python -m bench.reloads [--out docs/benchmarks] [--clients 2000] [--reloads 10]
                                      [--reload-interval 5] [--bound 75] [--spread 30]
                                      [--rate 0.2] [--reuse-fleet] [--keep-fleet]

bench/run.py's fleet (3 app hosts, 1 edge, 1 ACME host; NGINX on the app hosts). For each router
at the edge (HAProxy first, then NGINX) and each policy of a reload's old processes:

- never: no bound (wsfleet_router_shutdown_timeout=0), old processes keep their clients;
- all at once: the bound (BOUND seconds), which closes whatever is left in one go;
- spread (HAProxy only): the bound, and the haproxy role's close-spread service closing the old
  process's sessions evenly over the last SPREAD seconds before it (wsfleet_haproxy_close_spread).

Each policy is applied by site.yml on the edge alone, then the router is restarted (no old
process left from before) and CLIENTS clients (RATE messages per second each) arrive evenly over
RELOADS x RELOAD_INTERVAL seconds while the router is reloaded every RELOAD_INTERVAL seconds, so
each generation keeps the clients that arrived since the reload before. Then the run waits until
the bound of the last reload has passed (and a margin), and reads the old processes left and the
router's memory (PSS, summed over its processes); the load's report gives abnormal closures, lost
messages, failed handshakes and the reconnect handshakes of each second. The memory it compares
with: the same number of clients through the freshly restarted router with no reload.

The bound here is short (BOUND 75 s, the last 30 s spread) so that the run takes minutes; the
role's defaults are an hour and ten minutes. Writes OUT/reloads.json and OUT/reloads.md. Load goes
only to the fleet's own hosts. Timings are measurements, never assertions.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from bench import report as results_report
from bench import routers, run
from bench.report import fmt, is_number, render_report, section
from wsfleet_support import benchmark, ssh
from wsfleet_support.wsload import LoadRunner

REPORT_NAME = "reloads.md"
RESULTS_NAME = "reloads.json"
ROUTERS = {"haproxy": "HAProxy", "nginx": "NGINX"}
POLICIES = {
    "never": "no bound (never)",
    "all_at_once": "bound, all at once",
    "spread": "bound, spread",
}
# NGINX cannot close an old worker's connections one by one: no spread policy for it.
ROUTER_POLICIES = {"haproxy": ("never", "all_at_once", "spread"), "nginx": ("never", "all_at_once")}
RELOADS = 10
RELOAD_INTERVAL_SECONDS = 5.0
BOUND_SECONDS = 75
SPREAD_SECONDS = 30
# Long-lived clients that talk little: 1 message every 5 s each.
RATE = 0.2
# After the last bound, before reading what is left: the old processes' exit takes a moment.
MARGIN_SECONDS = 10
SETTLE_SECONDS = 5
# The targets: at most one generation of old processes left after the window, memory
# within 10% of before, and spreading's peak reconnect rate at most a third of all at once.
MEMORY_TOLERANCE = 0.10
SPREAD_PEAK_SHARE = 1 / 3
HAPROXY_MASTER_SOCKET = "/run/haproxy-master.sock"


# --- the edge's router --------------------------------------------------------------------


def edge_address() -> str:
    return routers.edge()["address"]


def edge_shell(script: str) -> str:
    return ssh.shell(run.BENCH_FLEET, edge_address(), script)


def policy_vars(policy: str, bound: int, spread: int) -> str:
    """Extra variables (JSON, so that the roles' specs get numbers) that apply a policy."""
    return json.dumps(
        {
            "wsfleet_router_shutdown_timeout": 0 if policy == "never" else bound,
            "wsfleet_haproxy_close_spread": spread if policy == "spread" else 0,
        }
    )


def apply_policy(router: str, policy: str, args: argparse.Namespace, folder: Path) -> float:
    run.say(f"{ROUTERS[router]} at the edge, {POLICIES[policy]}")
    extra = policy_vars(policy, args.bound, args.spread)
    wall = routers.site(router, folder, "--limit", routers.edge()["name"], "-e", extra)
    routers.wait_answering()
    return wall


def router_pss_kib(router: str) -> int:
    """Proportional set size summed over the router's processes (shared pages counted once)."""
    script = (
        f"for p in $(pgrep -x {routers.ROUTER_PROCESS[router]}); do "
        "grep '^Pss:' /proc/$p/smaps_rollup 2>/dev/null; done; true"
    )
    return sum(int(kib) for kib in re.findall(r"Pss:\s+(\d+)", edge_shell(script)))


def old_haproxy_processes(show_proc: str) -> int:
    """The old workers `show proc` lists (those a reload left with connections)."""
    old, section_name = 0, ""
    for line in show_proc.splitlines():
        if line.startswith("#"):
            section_name = line.strip("# ").lower()
        elif section_name == "old workers" and line.split()[:1] and line.split()[0].isdigit():
            old += 1
    return old


def old_processes(router: str) -> int:
    """The router's old processes still running on the edge."""
    if router == "haproxy":
        master = f"unix-connect:{HAPROXY_MASTER_SOCKET}"
        return old_haproxy_processes(edge_shell(f"echo 'show proc' | socat stdio {master}"))
    # An old NGINX worker renames itself when it begins to shut down.
    out = edge_shell("pgrep -fc 'nginx: worker process is shutting down' || true")
    return int(out.strip() or 0)


def reload_router(router: str) -> None:
    edge_shell(f"systemctl reload {router}.service")


# --- one policy, measured -----------------------------------------------------------------


def sleep_until(moment: float) -> None:
    time.sleep(max(0.0, moment - time.monotonic()))


def reload_load(clients: int, args: argparse.Namespace) -> LoadRunner:
    """Clients arriving evenly while the reloads happen, so each generation keeps its own."""
    ramp = args.reloads * args.reload_interval
    return LoadRunner(run.edge_load(clients, args.rate, ramp_up=ramp))


def reloads_under_load(router: str, policy: str, args: argparse.Namespace) -> dict:
    run.say(
        f"{ROUTERS[router]}, {POLICIES[policy]}: {args.reloads} reloads every "
        f"{args.reload_interval:g} s under {args.clients} arriving clients"
    )
    routers.restart_router(router)
    runner = reload_load(args.clients, args)
    began = time.monotonic()
    runner.start()
    reloaded_at = []
    for number in range(1, args.reloads + 1):
        sleep_until(began + number * args.reload_interval)
        reload_router(router)
        reloaded_at.append(round(time.monotonic() - began, 2))
    # Until the bound of the last reload has passed, whatever the policy: the same wait for all.
    sleep_until(began + args.reloads * args.reload_interval + args.bound + MARGIN_SECONDS)
    old, pss = old_processes(router), router_pss_kib(router)
    load = runner.stop().to_dict()
    return {
        "reloaded_at_seconds": reloaded_at,
        "read_at_seconds": round(time.monotonic() - began, 1),
        "old_processes_after": old,
        "pss_after_kib": pss,
        "load": load_figures(load),
    }


def load_figures(load: Mapping[str, Any]) -> dict:
    """What the report needs of a load report, with the reconnects of every second."""
    keys = (
        "clients",
        "clients_connected",
        "handshakes_ok",
        "handshakes_failed",
        "handshake_failures",
        "server_closes",
        "abnormal_closures",
        "reconnects",
        "reconnect_delay",
        "messages_sent",
        "messages_acknowledged",
        "messages_lost",
        "latency",
    )
    timeline = load.get("timeline", [])
    return {
        **{key: load.get(key) for key in keys},
        "reconnects_each_second": [second["reconnects"] for second in timeline],
        "handshakes_each_second": [second["handshakes"] for second in timeline],
    }


def reference_memory(router: str, clients: int, rate: float) -> dict:
    """The router's PSS holding the clients with no reload: what 'after' is compared with."""
    run.say(f"{ROUTERS[router]}: memory with {clients} clients and no reload")
    routers.restart_router(router)
    runner = LoadRunner(run.edge_load(clients, rate))
    runner.start()
    try:
        runner.wait_connected(timeout=clients / 40 + 60)
        time.sleep(SETTLE_SECONDS)
        return {"clients": runner.snapshot().open_connections, "pss_kib": router_pss_kib(router)}
    finally:
        runner.stop()


def measure(results: dict, args: argparse.Namespace, save: Callable[[], None]) -> None:
    folder = Path(tempfile.mkdtemp(prefix="wsfleet-bench-reloads-"))
    try:
        if run.fresh_fleet_unless_reused(args):
            results["playbooks"]["converge_seconds"] = run.playbook("site.yml")[0]
        for router in ROUTERS:
            measured = results["routers"][router]
            for policy in ROUTER_POLICIES[router]:
                results["playbooks"][f"{router}_{policy}_seconds"] = apply_policy(
                    router, policy, args, folder
                )
                if "reference" not in measured:
                    measured["reference"] = reference_memory(router, args.clients, args.rate)
                    save()
                measured[policy] = reloads_under_load(router, policy, args)
                save()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# --- figures and the report ---------------------------------------------------------------


def peak(values: Any) -> int | None:
    return max(values, default=0) if isinstance(values, list) else None


def change(after: Any, before: Any) -> float | None:
    """after / before - 1; None when either is missing."""
    if is_number(after) and is_number(before) and before > 0:
        return after / before - 1
    return None


def policy_figures(measured: Mapping[str, Any], reference: Mapping[str, Any]) -> dict:
    load = section(measured, "load")
    clients = load.get("clients")
    closes = load.get("server_closes")
    close_total = sum(closes.values()) if isinstance(closes, Mapping) else None
    return {
        "old_processes_after": measured.get("old_processes_after"),
        "pss_before_kib": reference.get("pss_kib"),
        "pss_after_kib": measured.get("pss_after_kib"),
        "pss_change": change(measured.get("pss_after_kib"), reference.get("pss_kib")),
        "abnormal_closures": load.get("abnormal_closures"),
        "closes_per_client": close_total / clients if is_number(close_total) and clients else None,
        "messages_lost": load.get("messages_lost"),
        "handshakes_failed": load.get("handshakes_failed"),
        "peak_reconnects_per_second": peak(load.get("reconnects_each_second")),
    }


def results_figures(results: Mapping[str, Any]) -> dict[str, dict[str, dict]]:
    figures: dict[str, dict[str, dict]] = {}
    for router in ROUTERS:
        measured = section(results, "routers", router)
        reference = section(measured, "reference")
        figures[router] = {
            policy: policy_figures(section(measured, policy), reference)
            for policy in ROUTER_POLICIES[router]
            if policy in measured
        }
    return figures


def generations_left(router: str, old: Any, cpus: Any) -> float | None:
    """Old processes as generations: an NGINX reload leaves one worker per CPU, HAProxy's one."""
    if not is_number(old):
        return None
    per_generation = cpus if router == "nginx" and is_number(cpus) and cpus > 0 else 1
    return old / per_generation


def targets(figures: Mapping[str, Mapping[str, dict]], cpus: Any) -> list[tuple[str, str, str]]:
    """(target, measured, met?) for each target of the issue the run measured."""
    rows = []
    for router, policies in figures.items():
        for policy in ("all_at_once", "spread"):
            measured = policies.get(policy)
            if not measured:
                continue
            label = f"{ROUTERS[router]}, {POLICIES[policy]}"
            left = generations_left(router, measured["old_processes_after"], cpus)
            rows.append(
                (
                    f"{label}: at most one generation of old processes after the window",
                    f"old processes: {fmt(measured['old_processes_after'])}",
                    verdict(left is not None and left <= 1, left),
                )
            )
            growth = measured["pss_change"]
            rows.append(
                (
                    f"{label}: the edge's memory within 10% of before",
                    percent_change(growth),
                    verdict(growth is not None and growth <= MEMORY_TOLERANCE, growth),
                )
            )
    rows.extend(spread_target(figures))
    return rows


def spread_target(figures: Mapping[str, Mapping[str, dict]]) -> list[tuple[str, str, str]]:
    haproxy = figures.get("haproxy", {})
    spread, at_once = haproxy.get("spread"), haproxy.get("all_at_once")
    if not (spread and at_once):
        return []
    share = spread_share(spread, at_once)
    measured = (
        f"{fmt(spread['peak_reconnects_per_second'])}/s against "
        f"{fmt(at_once['peak_reconnects_per_second'])}/s"
    )
    return [
        (
            "HAProxy: peak reconnect handshake rate with spreading at most a third of all at once",
            measured + (f" ({share:.2f} x)" if share is not None else ""),
            verdict(share is not None and share <= SPREAD_PEAK_SHARE, share),
        )
    ]


def spread_share(spread: Mapping[str, Any], at_once: Mapping[str, Any]) -> float | None:
    a, b = spread.get("peak_reconnects_per_second"), at_once.get("peak_reconnects_per_second")
    return a / b if is_number(a) and is_number(b) and b > 0 else None


def verdict(met: bool, value: Any) -> str:
    if value is None:
        return results_report.NOT_MEASURED
    return "met" if met else "missed"


def percent_change(value: Any) -> str:
    return f"{value * 100:+.0f}%" if is_number(value) else results_report.NOT_MEASURED


def table_rows(figures: Mapping[str, Mapping[str, dict]]) -> list[list[str]]:
    rows = []
    for router, policies in figures.items():
        for policy, measured in policies.items():
            rows.append(
                [
                    ROUTERS[router],
                    POLICIES[policy],
                    fmt(measured["old_processes_after"]),
                    f"{fmt_mib(measured['pss_before_kib'])} → {fmt_mib(measured['pss_after_kib'])}"
                    f" ({percent_change(measured['pss_change'])})",
                    fmt(measured["abnormal_closures"]),
                    fmt(measured["closes_per_client"], 2),
                    fmt(measured["messages_lost"]),
                    fmt(measured["handshakes_failed"]),
                    fmt(measured["peak_reconnects_per_second"]),
                ]
            )
    return rows


def fmt_mib(kib: Any) -> str:
    return fmt(kib / 1024 if is_number(kib) else None, 1, "MiB")


def histogram(results: Mapping[str, Any], router: str, policy: str) -> str:
    """The reconnect handshakes of every second from the first to the last with any."""
    counts = section(results, "routers", router, policy, "load").get("reconnects_each_second")
    if not isinstance(counts, list) or not any(counts):
        return "none"
    first = next(index for index, count in enumerate(counts) if count)
    last = max(index for index, count in enumerate(counts) if count)
    return f"from second {first}: " + " ".join(str(count) for count in counts[first : last + 1])


def render(results: Mapping[str, Any]) -> str:
    figures = results_figures(results)
    cpus = section(results, "machine").get("cpus")
    return render_report(
        __name__, results, targets=targets(figures, cpus), rows=table_rows(figures)
    )


def write_outputs(results: dict, out: Path) -> None:
    benchmark.save_outputs(out, results, (RESULTS_NAME, REPORT_NAME), results_figures, render)


# --- main ---------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = benchmark.parser(__doc__, reuse_fleet=True)
    parser.add_argument("--reloads", type=int, default=RELOADS)
    parser.add_argument("--reload-interval", type=float, default=RELOAD_INTERVAL_SECONDS)
    parser.add_argument("--bound", type=int, default=BOUND_SECONDS)
    parser.add_argument("--spread", type=int, default=SPREAD_SECONDS)
    parser.add_argument("--rate", type=float, default=RATE)
    return parser.parse_args(argv)


def new_results(args: argparse.Namespace, argv: list[str]) -> dict:
    fleet = {"app_hosts": run.APP_HOSTS, "edge_hosts": 1, "app_host_router": "nginx"}
    settings = {
        "clients": args.clients,
        "rate": args.rate,
        "reloads": args.reloads,
        "reload_interval_seconds": args.reload_interval,
        "bound_seconds": args.bound,
        "spread_seconds": args.spread,
        "nginx_workers_per_generation": os.cpu_count(),
    }
    return benchmark.new_results(
        "bench.reloads",
        argv,
        fleet=fleet,
        settings=settings,
        playbooks={},
        routers={router: {} for router in ROUTERS},
    )


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    out = benchmark.output_folder(args.out)
    results = new_results(args, argv)
    run.measure_on_fleet(results, args, measure, write_outputs, out / REPORT_NAME)
    return 0


if __name__ == "__main__":
    sys.exit(main())
