"""The converge benchmark: what site.yml and a deploy cost next to Ansible's own floor.

    .venv/bin/python -m bench.converge [--out docs/benchmarks] [--clients 2000] [--repeats 3]
                                       [--grow-to 8] [--keep-fleet]

On the bench fleet (bench/run.py's wsfleet-bench: 3 app hosts, 1 edge, 1 ACME host), from
nothing, it times:

- the first converge of site.yml;
- Ansible's floor: a one-task playbook on the same hosts (bench/playbooks/one_task.yml);
- a no-op site.yml, REPEATS times, with the tasks that changed on each host (none is the
  target) and where the time goes, task by task (Ansible's junit callback);
- a deploy of a new release without load, then one under CLIENTS wss:// clients through the
  edge (failed handshakes, abnormal closures, lost messages, closes per client, balance);
- the fleet grown to GROW_TO app hosts: the no-op site.yml and the floor again, and how much
  the no-op grew.

It writes converge.json and converge.md (bench/templates/converge.md.j2) to OUT. Timings are
measurements, never test assertions.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import tempfile
import time
import xml.etree.ElementTree as ElementTree
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import jinja2

from bench.report import balance, closes_per_client
from bench.run import (
    APP_HOSTS,
    BIN,
    INVENTORY,
    PROJECT,
    fleet_up,
    localfleet,
    machine,
    new_release_source,
    run,
    say,
    under_load,
)
from bench.wsload import raise_open_files_limit

ONE_TASK = "bench/playbooks/one_task.yml"
TEMPLATES = Path(__file__).resolve().parent / "templates"
# Where a task comes from, read from its junit class name (the file and line of the task).
ROLE_PATH = re.compile(r"/roles/(?P<role>[^/]+)/")
HOST_PREFIX = re.compile(r"^\[(?P<host>[^\]]+)\] ")


def timed_playbook(name: str, *args: str) -> dict:
    """Run a playbook with Ansible's junit callback: its wall time and its tasks, each with
    its time and whether it changed, per host (a change is a junit failure here)."""
    with tempfile.TemporaryDirectory(prefix="wsfleet-junit-") as junit_dir:
        env = {
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_CALLBACKS_ENABLED": "ansible.builtin.junit",
            "JUNIT_OUTPUT_DIR": junit_dir,
            "JUNIT_FAIL_ON_CHANGE": "true",
            "JUNIT_HIDE_TASK_ARGUMENTS": "true",
        }
        command = [str(BIN / "ansible-playbook"), "-i", str(INVENTORY), name, *args]
        wall, _ = run(command, env=env)
        tasks = [case for path in Path(junit_dir).glob("*.xml") for case in junit_cases(path)]
    return {"playbook": name, "wall_seconds": round(wall, 2), "tasks": tasks}


def junit_cases(path: Path) -> list[dict]:
    """Every task result of a junit file: host, task, where it is written, seconds, changed."""
    cases = []
    for case in ElementTree.parse(path).getroot().iter("testcase"):
        host = HOST_PREFIX.match(case.get("name", ""))
        cases.append(
            {
                "host": host["host"] if host else "",
                "task": HOST_PREFIX.sub("", case.get("name", "")),
                "source": case.get("classname", ""),
                "seconds": float(case.get("time", 0)),
                "changed": case.find("failure") is not None,
            }
        )
    return cases


def changed_tasks(run_record: dict) -> dict[str, list[str]]:
    """The tasks that changed something, by host."""
    changed = defaultdict(list)
    for case in run_record["tasks"]:
        if case["changed"]:
            changed[case["host"]].append(case["task"])
    return dict(changed)


def task_profile(run_record: dict) -> list[dict]:
    """Each task once, with the time of its slowest host (the hosts run a task together),
    slowest first."""
    slowest: dict[tuple[str, str], float] = {}
    hosts: dict[tuple[str, str], int] = defaultdict(int)
    for case in run_record["tasks"]:
        key = (case["source"], case["task"])
        slowest[key] = max(slowest.get(key, 0.0), case["seconds"])
        hosts[key] += 1
    profile = [
        {"task": task, "part": part_of(source), "seconds": round(seconds, 2), "hosts": hosts[key]}
        for key, seconds in slowest.items()
        for source, task in [key]
    ]
    return sorted(profile, key=lambda entry: entry["seconds"], reverse=True)


def part_of(source: str) -> str:
    """The role a task belongs to, or the playbook that holds it."""
    role = ROLE_PATH.search(source)
    return f"role {role['role']}" if role else Path(source.split(":")[0]).name


def time_by_part(profile: list[dict]) -> dict[str, float]:
    totals: dict[str, float] = defaultdict(float)
    for entry in profile:
        totals[entry["part"]] += entry["seconds"]
    return {part: round(seconds, 2) for part, seconds in sorted(totals.items(), key=by_value)}


def by_value(item: tuple[str, float]) -> float:
    return -item[1]


def repeated(name: str, repeats: int, *args: str) -> dict:
    """A playbook run `repeats` times: every wall time, the median, and the median run's
    changes and profile."""
    runs = [timed_playbook(name, *args) for _ in range(repeats)]
    walls = [record["wall_seconds"] for record in runs]
    median_run = sorted(runs, key=lambda record: record["wall_seconds"])[len(runs) // 2]
    profile = task_profile(median_run)
    return {
        "playbook": name,
        "wall_seconds": walls,
        "median_seconds": statistics.median(walls),
        "changed": [changed_tasks(record) for record in runs],
        "task_count": len(profile),
        "task_seconds": round(sum(entry["seconds"] for entry in profile), 2),
        "by_part": time_by_part(profile),
        "slowest_tasks": profile[:15],
    }


def noop_against_floor(repeats: int) -> dict:
    say(f"floor: {ONE_TASK}, {repeats} times")
    floor = repeated(ONE_TASK, repeats)
    say(f"no-op site.yml, {repeats} times")
    noop = repeated("site.yml", repeats)
    noop["floor_ratio"] = round(noop["median_seconds"] / floor["median_seconds"], 1)
    return {"floor": floor, "noop": noop}


def deploy(source: str) -> dict:
    record = timed_playbook("playbooks/deploy.yml", "-e", f"wsfleet_app_source_path={source}")
    profile = task_profile(record)
    return {
        "wall_seconds": record["wall_seconds"],
        "changed": changed_tasks(record),
        "by_part": time_by_part(profile),
        "slowest_tasks": profile[:15],
    }


def deploy_under_load(clients: int) -> dict:
    """A deploy of a new release under clients through the edge, with what the clients saw."""
    outcome = under_load("deploy", clients, lambda: deploy(release_source("1.2.0")))
    load = outcome["load"]
    return {
        "clients": clients,
        "wall_seconds": outcome["wall_seconds"],
        "failed_handshakes": load.get("failed_handshakes"),
        "abnormal_closures": load.get("abnormal_closures"),
        "lost_messages": load.get("lost_messages"),
        "server_closes": load.get("server_closes"),
        "closes_per_client": round(closes_per_client(outcome) or 0, 3),
        "balance_before": round(balance(outcome["balance_before"]) or 0, 3),
        "balance_after": round(balance(outcome["balance_after"]) or 0, 3),
        "by_part": outcome["by_part"],
    }


def release_source(version: str) -> str:
    """A copy of the example app that differs from the live release by its version."""
    source = Path(new_release_source())
    pyproject = source / "pyproject.toml"
    pyproject.write_text(
        re.sub(r'(?m)^version = ".*"$', f'version = "{version}"', pyproject.read_text())
    )
    return str(source)


def measure(results: dict, args: argparse.Namespace, save: Callable[[], None]) -> None:
    say("fleet from nothing")
    fleet_up(APP_HOSTS, fresh=True)
    say("first converge")
    results["first_converge"] = timed_playbook("site.yml")["wall_seconds"]
    results["quick_start_fleet"] = {"app_hosts": APP_HOSTS, **noop_against_floor(args.repeats)}
    save()
    say("deploy of a new release without load")
    results["deploy"] = deploy(release_source("1.1.0"))
    save()
    results["deploy_under_load"] = deploy_under_load(args.clients)
    save()
    say(f"the fleet grown to {args.grow_to} app hosts")
    fleet_up(args.grow_to, fresh=False)
    results["grown_converge"] = timed_playbook("site.yml")["wall_seconds"]
    grown = results["grown_fleet"] = {"app_hosts": args.grow_to, **noop_against_floor(args.repeats)}
    base = results["quick_start_fleet"]["noop"]["median_seconds"]
    results["noop_growth"] = round(grown["noop"]["median_seconds"] / base - 1, 3)
    save()


def write_markdown(results: dict, out: Path) -> None:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES), undefined=jinja2.StrictUndefined
    )
    text = environment.get_template("converge.md.j2").render(results=results)
    (out / "converge.md").write_text(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", default=str(PROJECT / "docs" / "benchmarks"))
    parser.add_argument("--clients", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--grow-to", type=int, default=8, help="app hosts of the grown fleet")
    parser.add_argument("--keep-fleet", action="store_true", help="leave the fleet up afterwards")
    args = parser.parse_args(argv)
    raise_open_files_limit()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results: dict = {
        "command": "python -m bench.converge "
        + " ".join(argv if argv is not None else sys.argv[1:]),
        "started": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": machine(),
        "processes_per_host": os.cpu_count(),
    }
    began = time.monotonic()

    def save() -> None:
        results["duration_seconds"] = round(time.monotonic() - began, 1)
        (out / "converge.json").write_text(json.dumps(results, indent=1) + "\n")
        write_markdown(results, out)

    try:
        measure(results, args, save)
    finally:
        if not args.keep_fleet:
            localfleet("down", check=False)
    say(f"report: {out / 'converge.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
