"""The converge benchmark: what site.yml and a deploy cost next to Ansible's own floor.

    .venv/bin/python -m bench.converge [--out docs/benchmarks] [--clients 2000] [--repeats 3]
                                       [--grow-to 8] [--keep-fleet]

On the quick-start fleet's shape (bench/run.py's wsfleet-bench with a monitoring host: 3 app
hosts, 2 edges, 1 ACME host, 1 monitoring host), from nothing, it times:

- the first converge of site.yml;
- Ansible's floor: a one-task playbook on the same hosts (bench/playbooks/one_task.yml), and
  the module floor: as many module runs per host as a no-op site.yml makes on an app host,
  doing nothing (bench/playbooks/module_floor.yml);
- a no-op site.yml, REPEATS times, with the tasks that changed on each host (none is the
  target) and where the time goes, task by task (Ansible's junit callback);
- a deploy of a new release without load, then one under CLIENTS wss:// clients through the
  edge (failed handshakes, abnormal closures, lost messages, closes per client, balance);
- the fleet grown to GROW_TO app hosts: the no-op site.yml and both floors again, and how
  much each grew.

It writes converge.json and converge.md (bench/templates/converge.md.j2) to OUT. Timings are
measurements, never test assertions.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

from bench.report import balance, closes_per_client, module_seconds
from bench.run import (
    APP_HOSTS,
    INVENTORY,
    fleet_down,
    fleet_up,
    hosts_of,
    new_release_source,
    read_rollout_reports,
    rollout_record,
    say,
    under_load,
)
from wsfleet_support import benchmark, profile
from wsfleet_support.markdown import render

ONE_TASK = "bench/playbooks/one_task.yml"
MODULE_FLOOR = "bench/playbooks/module_floor.yml"
TEMPLATES = Path(__file__).resolve().parent / "templates"


def profiled(playbook: str, *options: str) -> dict:
    return profile.profiled_playbook(INVENTORY, playbook, *options)


def repeated(name: str, repeats: int, *args: str) -> dict:
    """A playbook run `repeats` times: every wall time, the median, and the median run's
    changes and profile."""
    runs = [profiled(name, *args) for _ in range(repeats)]
    walls = [record["wall_seconds"] for record in runs]
    median_run = sorted(runs, key=lambda record: record["wall_seconds"])[len(runs) // 2]
    return {
        **profile.summary(median_run),
        "playbook": name,
        "wall_seconds": walls,
        "median_seconds": statistics.median(walls),
        "changed": [profile.changed_tasks(record) for record in runs],
    }


def noop_against_floor(repeats: int) -> dict:
    say(f"floor: {ONE_TASK}, {repeats} times")
    floor = repeated(ONE_TASK, repeats)
    say(f"module floor: {MODULE_FLOOR}, {repeats} times")
    module_floor = repeated(MODULE_FLOOR, repeats)
    say(f"no-op site.yml, {repeats} times")
    noop = repeated("site.yml", repeats)
    noop["floor_ratio"] = round(noop["median_seconds"] / floor["median_seconds"], 1)
    return {"floor": floor, "module_floor": module_floor, "noop": noop}


def deploy(source: str) -> dict:
    """A deploy of the release built from source: its wall time, what changed, and the time
    the hosts' rollout modules took on the critical path (the slowest host of each batch, as
    the hosts kept it), the rest being Ansible's. The junit times are not used here: a task of
    a serial play is timed from its first batch's start."""
    began = time.time()
    record = profiled("playbooks/deploy.yml", "-e", f"wsfleet_app_source_path={source}")
    rollout = rollout_record(read_rollout_reports(began), app_host_names(), "1")
    rollout_seconds = module_seconds(rollout) or 0.0
    return {
        "wall_seconds": record["wall_seconds"],
        "changed_hosts": len(profile.changed_tasks(record)),
        "rollout_seconds": round(rollout_seconds, 2),
        "ansible_seconds": round(record["wall_seconds"] - rollout_seconds, 2),
    }


def app_host_names() -> list[str]:
    return [host["name"] for host in hosts_of("app")]


def deploy_under_load(clients: int) -> dict:
    """A deploy of a new release under clients through the edge, with what the clients saw."""
    outcome = under_load("deploy", clients, lambda: deploy(new_release_source("1.2.0")))
    load = outcome["load"]
    return {
        "clients": clients,
        "wall_seconds": outcome["wall_seconds"],
        "failed_handshakes": load["handshakes_failed"],
        "abnormal_closures": load["abnormal_closures"],
        "lost_messages": load["messages_lost"],
        "server_closes": load.get("server_closes"),
        "closes_per_client": round(closes_per_client(outcome) or 0, 3),
        "balance_before": round(balance(outcome["balance_before"]) or 0, 3),
        "balance_after": round(balance(outcome["balance_after"]) or 0, 3),
        "rollout_seconds": outcome["rollout_seconds"],
    }


def measure(results: dict, args: argparse.Namespace, save: Callable[[], None]) -> None:
    say("fleet from nothing")
    fleet_up(APP_HOSTS, fresh=True, monitoring=True)
    say("first converge")
    results["first_converge"] = profiled("site.yml")["wall_seconds"]
    results["quick_start_fleet"] = {"app_hosts": APP_HOSTS, **noop_against_floor(args.repeats)}
    save()
    say("deploy of a new release without load")
    results["deploy"] = deploy(new_release_source("1.1.0"))
    save()
    results["deploy_under_load"] = deploy_under_load(args.clients)
    save()
    say(f"the fleet grown to {args.grow_to} app hosts")
    fleet_up(args.grow_to, fresh=False, monitoring=True)
    results["grown_converge"] = profiled("site.yml")["wall_seconds"]
    grown = results["grown_fleet"] = {"app_hosts": args.grow_to, **noop_against_floor(args.repeats)}
    base = results["quick_start_fleet"]
    for name in ("noop", "floor", "module_floor"):
        growth = grown[name]["median_seconds"] / base[name]["median_seconds"] - 1
        results[f"{name}_growth"] = round(growth, 3)
    save()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = benchmark.parser(__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--grow-to", type=int, default=8, help="app hosts of the grown fleet")
    args = parser.parse_args(argv)
    out = benchmark.output_folder(args.out)
    results = benchmark.new_results("bench.converge", argv, processes_per_host=os.cpu_count())
    began = time.monotonic()

    def save() -> None:
        results["duration_seconds"] = round(time.monotonic() - began, 1)
        (out / "converge.json").write_text(json.dumps(results, indent=1) + "\n")
        (out / "converge.md").write_text(render(TEMPLATES, "converge.md.j2", results=results))

    benchmark.on_fleet(lambda: measure(results, args, save), fleet_down, args.keep_fleet)
    say(f"report: {out / 'converge.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
