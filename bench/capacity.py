"""How many connections one process of the example app holds, at several workloads, each
measured more than once: playbooks/capacity.yml run as a user runs it, and its reports
gathered.

    .venv/bin/python -m bench.capacity [--out docs/benchmarks] [--runs 2]
                                       [--profiles echo-10 echo-2 work-1]
                                       [--reuse-fleet] [--keep-fleet]

bench/run.py's fleet (wsfleet-bench), deployed with site.yml unless reused. For each run, each
profile in turn: app1 restarted (playbooks/rolling_restart.yml, so that the process measured
is fresh), then playbooks/capacity.yml against its process slot 1, through that host's
router, from this machine (the collection's load generator in 2 processes), stepping the
connections up by STEPS until the process saturates (the role's default criteria: CPU 0.9
core, p99 50 ms, loop lag 0.1 s, a failed handshake). Each run's own report (JSON, Markdown,
SVG) goes to OUT/capacity/; the knees side by side, their spread between runs and the
recommendation for 100,000 connections go to OUT/capacity.json and OUT/capacity.md.

The profiles: the echo app at 10 and at 2 messages per second per connection, and its /work
path at 1 message per second, which spends about 1 ms of CPU on each (PBKDF2). Load goes only
to the fleet's own hosts. The figures are measurements, never assertions.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import run
from bench.report import fmt, render_report, section
from wsfleet_support import benchmark

REPORT_NAME = "capacity.md"
RESULTS_NAME = "capacity.json"
RUNS_FOLDER = "capacity"
PLAYBOOK = "playbooks/capacity.yml"
# The host capacity.yml measures by default: the first app host.
MEASURED_HOST = "app1"
# Fine steps (10%) so that two runs can agree within 15%, the role's default settle and window
# (a 6 s window met Python's full garbage collections, pauses of tens of ms with thousands of
# connections, in one run and not the other: knees 21% apart at 2 messages/s); never more than
# the app's default cap (wsfleet_app_max_connections 10,000).
STEPS = {"factor": 1.1, "max_connections": 9000, "settle_seconds": 5, "window_seconds": 15}
# The bar for a repeatable knee: two runs within 15% of each other.
SPREAD_TARGET = 0.15
# What the benchmark keeps of each run's own JSON report.
REPORT_KEYS = ("profile", "plan", "limits", "steps", "result", "recommendation")


@dataclass(frozen=True)
class Workload:
    """A profile measured: its name, what each client does, and where the steps start (a
    little below where it saturates, so that the steps are fine and few)."""

    name: str
    title: str
    start: int
    profile: dict[str, Any] = field(default_factory=dict)


WORKLOADS = (
    Workload("echo-10", "echo, 10 messages/s", 500, {"messages_per_second": 10}),
    Workload("echo-2", "echo, 2 messages/s", 1600, {"messages_per_second": 2}),
    Workload(
        "work-1",
        "/work (1 ms of CPU each), 1 message/s",
        500,
        {"messages_per_second": 1, "path": "/work"},
    ),
)
BY_NAME = {workload.name: workload for workload in WORKLOADS}


def playbook_vars(workload: Workload, folder: Path, report_name: str) -> dict[str, Any]:
    return {
        "wsfleet_capacity_profile": workload.profile,
        "wsfleet_capacity_steps": {"start": workload.start, **STEPS},
        "wsfleet_capacity_report_dir": str(folder),
        "wsfleet_capacity_report_name": report_name,
    }


def user_command(extra_vars: Mapping[str, Any]) -> str:
    """The command a user would type for the same run (on their own inventory)."""
    shown = dict(extra_vars)
    del shown["wsfleet_capacity_report_dir"]
    return shlex.join(["ansible-playbook", PLAYBOOK, "-e", json.dumps(shown)])


def measure_workload(workload: Workload, number: int, folder: Path) -> dict[str, Any]:
    """One run of the capacity playbook; what its own JSON report says, and how to repeat it."""
    report_name = f"{workload.name}-run{number}"
    extra_vars = playbook_vars(workload, folder, report_name)
    run.say(f"capacity: {workload.title}, run {number}")
    # A fresh process: memory per connection is the growth of its resident memory, and a
    # process that held more connections before reuses what it freed.
    run.playbook("playbooks/rolling_restart.yml", "--limit", MEASURED_HOST)
    seconds, _ = run.playbook(PLAYBOOK, "-e", json.dumps(extra_vars))
    report = json.loads((folder / f"{report_name}.json").read_text())
    return {
        "report": f"{RUNS_FOLDER}/{report_name}.md",
        "command": user_command(extra_vars),
        "playbook_seconds": round(seconds, 1),
        **{key: report[key] for key in REPORT_KEYS},
    }


def measure(results: dict, args: argparse.Namespace, save: Callable[[], None]) -> None:
    if run.fresh_fleet_unless_reused(args):
        run.say("site.yml")
        results["site_seconds"] = round(run.playbook("site.yml")[0], 1)
    folder = Path(args.out) / RUNS_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    for number in range(1, args.runs + 1):
        for name in args.profiles:
            measured = measure_workload(BY_NAME[name], number, folder)
            results["workloads"].setdefault(name, []).append(measured)
            save()


# --- the report ---------------------------------------------------------------------------


def spread(values: list[float]) -> float | None:
    """How far apart the runs' knees are: (largest - smallest) / smallest."""
    if len(values) < 2 or min(values) <= 0:
        return None
    return (max(values) - min(values)) / min(values)


def run_figures(measured: Mapping[str, Any]) -> dict[str, Any]:
    result = section(measured, "result")
    knee = section(result, "knee")
    first = section(result, "first_saturated")
    advice = section(measured, "recommendation")
    generator = knee.get("generator_cpu_cores") or []
    return {
        "report": measured.get("report"),
        "valid": result.get("valid"),
        "reason": result.get("reason"),
        "knee": knee.get("connections"),
        "messages_per_second": knee.get("messages_per_second"),
        "p50_ms": knee.get("p50_ms"),
        "p99_ms": knee.get("p99_ms"),
        "process_cpu_cores": knee.get("process_cpu_cores"),
        "memory_per_connection_kib": (knee.get("memory_per_connection_bytes") or 0) / 1024 or None,
        "generator_cpu_cores": max(generator) if generator else None,
        # The generator's host is this machine, which runs the app host and its router too.
        "machine_busy_cores": knee.get("generator_host_busy_cores"),
        "saturated_at": first.get("connections"),
        "saturated_by": result.get("saturated_by") or [],
        "max_connections_per_process": advice.get("max_connections_per_process"),
        "processes_per_host": advice.get("processes_per_host"),
        "hosts": advice.get("hosts"),
    }


def workload_figures(runs: list[Mapping[str, Any]]) -> dict[str, Any]:
    rows = [run_figures(measured) for measured in runs]
    knees = [row["knee"] for row in rows if row["valid"] and row["knee"]]
    knee_spread = spread(knees)
    return {
        "runs": rows,
        "knees": knees,
        "spread": knee_spread,
        "repeatable": knee_spread is not None and knee_spread <= SPREAD_TARGET,
    }


def results_figures(results: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: workload_figures(runs) for name, runs in section(results, "workloads").items()}


def title_of(name: str) -> str:
    """A workload's title in the report; a name no longer in WORKLOADS (older results) as is."""
    return BY_NAME[name].title if name in BY_NAME else name


def run_rows(figures: Mapping[str, Mapping[str, Any]]) -> list[list[str]]:
    return [
        [
            title_of(name),
            f"[{number}]({row['report']})",
            fmt(row["knee"], 0) if row["valid"] else f"invalid: {row['reason']}",
            fmt(row["messages_per_second"], 0),
            f"{fmt(row['p50_ms'], 2)} / {fmt(row['p99_ms'], 1)}",
            fmt(row["process_cpu_cores"], 2),
            fmt(row["memory_per_connection_kib"], 1, "KiB"),
            f"{fmt(row['saturated_at'], 0)} by {', '.join(row['saturated_by']) or '-'}",
            fmt(row["generator_cpu_cores"], 2),
            fmt(row["machine_busy_cores"], 2),
            f"{fmt(row['max_connections_per_process'], 0)} x {fmt(row['processes_per_host'], 0)}, "
            f"{fmt(row['hosts'], 0)} hosts",
        ]
        for name, workload in figures.items()
        for number, row in enumerate(workload["runs"], start=1)
    ]


def spread_rows(figures: Mapping[str, Mapping[str, Any]]) -> list[list[str]]:
    return [
        [
            title_of(name),
            ", ".join(fmt(knee, 0) for knee in workload["knees"]) or "-",
            "-" if workload["spread"] is None else f"{workload['spread'] * 100:.1f}%",
            "yes" if workload["repeatable"] else "no",
        ]
        for name, workload in figures.items()
    ]


def render(results: Mapping[str, Any]) -> str:
    return render_report(
        __name__,
        results,
        figures=results_figures(results),
        steps=STEPS,
        spread_target=SPREAD_TARGET,
    )


def write_outputs(results: dict, out: Path) -> None:
    benchmark.save_outputs(out, results, (RESULTS_NAME, REPORT_NAME), results_figures, render)


# --- main ---------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = benchmark.parser(__doc__, clients=False, reuse_fleet=True)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--profiles", nargs="+", choices=list(BY_NAME), default=list(BY_NAME))
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    out = benchmark.output_folder(args.out)
    results = benchmark.new_results("bench.capacity", argv, workloads={})
    run.measure_on_fleet(results, args, measure, write_outputs, out / REPORT_NAME)
    return 0


if __name__ == "__main__":
    sys.exit(main())
