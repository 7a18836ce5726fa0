"""Markdown report and plots from a benchmark results file written by bench/run.py.

Command line (writes DIR/README.md and the PNG plots; DIR defaults to the JSON's folder)::

    python -m bench.report docs/benchmarks/results.json [--out DIR]

From Python::

    written = write_report(json.loads(path.read_text()), Path("docs/benchmarks"))

Every section of the results except machine, command and started may be missing
(a partial run): the report then says "not measured" for it. The text a human
wrote between ``<!-- analysis -->`` and ``<!-- /analysis -->`` in an existing
README.md is kept when the report is written again.

Units: the latency section of the results is in milliseconds, a load report
(bench/wsload.py) in seconds; the report shows both in milliseconds.

The figures (closes per client, balance, overhead against the floor, where the time goes) are
computed here from the raw results by results_figures(), which bench/run.py also stores in
results.json under "figures"; the report always computes them afresh.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter

from wsfleet_support import stats
from wsfleet_support.markdown import render as render_template
from wsfleet_support.stats import nearest_rank

NOT_MEASURED = "not measured"
TARGET_CLIENTS = 2000
TARGET_RATE = 1.0
TARGET_RESTART_RATIO = 1.25
TARGET_EDGE_CONNECTIONS = 4000
# Under load: server closes per client, max / mean open connections per process after the
# rollout, orchestration overhead per process restart, and wall time over its floor.
TARGET_CLOSES_PER_CLIENT = 1.05
TARGET_BALANCE = 1.25
TARGET_OVERHEAD_PER_RESTART = 0.15
TARGET_UNDER_LOAD_RATIO = 3.0
REPLACE = "replace"
ANALYSIS_START = "<!-- analysis -->"
ANALYSIS_END = "<!-- /analysis -->"
ANALYSIS_PLACEHOLDER = "(to be written)"
ANALYSIS_PATTERN = re.compile(re.escape(ANALYSIS_START) + r"(.*?)" + re.escape(ANALYSIS_END), re.S)
README_NAME = "README.md"
RECONNECT_DELAYS_PLOT = "reconnect_delays.png"
LATENCY_PLOT = "latency.png"
# Results key, section title, plot of the open connections per process.
UNDER_LOAD_RUNS = (
    ("rolling_restart_under_load", "Rolling restart under load", "connections_per_process.png"),
    ("deploy_under_load", "Deploy under load", "connections_per_process_deploy.png"),
)
# Results key under baselines_under_load, column title, plot of the open connections.
BASELINE_RUNS = (
    ("surge_by_hand", "surge by hand (floor, no Ansible)", "connections_surge_by_hand.png"),
    ("restart_all_at_once", "all restarted at once", "connections_all_at_once.png"),
    ("restart_one_by_one", "one at a time, no gate", "connections_one_by_one.png"),
)
RESTART_MODES = {"pipelining": "with pipelining", "no_pipelining": "without pipelining"}
LATENCY_PATHS = {
    "edge_tls": "edge (TLS)",
    "app_host_nginx": "app host NGINX",
    "process_direct": "process, direct",
}
# Percentile key of the results -> (column label, percentile; None for the maximum).
LATENCY_KEYS = {
    "p50": ("p50", 50.0),
    "p90": ("p90", 90.0),
    "p99": ("p99", 99.0),
    "p999": ("p99.9", 99.9),
    "max": ("max", None),
}
PLOT_DPI = 110
TEMPLATES = Path(__file__).resolve().parent / "templates"


# -- reading the results -------------------------------------------------------


def dig(data: Any, *keys: str) -> Any:
    """data[key1][key2]...; None as soon as a level is missing or not a mapping."""
    for key in keys:
        if not isinstance(data, Mapping):
            return None
        data = data.get(key)
    return data


def section(results: Mapping[str, Any], *keys: str) -> dict[str, Any]:
    """A nested mapping of the results, empty when missing."""
    value = dig(results, *keys)
    return value if isinstance(value, dict) else {}


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def numbers(values: Any) -> list[float]:
    """The numbers of a list, ignoring anything else; empty when not a list."""
    if not isinstance(values, list):
        return []
    return [float(value) for value in values if is_number(value) and math.isfinite(value)]


def process_name(host: Any, process: Any) -> str:
    return f"{host}/{process}"


def natural_key(name: str) -> list[Any]:
    """Sort app2/1 before app10/1."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


# -- formatting ----------------------------------------------------------------


def fmt(value: Any, digits: int = 1, unit: str = "") -> str:
    """A number with thousands separators and a unit; "not measured" when missing."""
    if not is_number(value):
        return NOT_MEASURED
    text = f"{value:,}" if isinstance(value, int) else f"{value:,.{digits}f}"
    return f"{text} {unit}" if unit else text


def fmt_ms_from_seconds(value: Any) -> str:
    return fmt(value * 1000 if is_number(value) else None, 1, "ms")


def fmt_duration(seconds: Any) -> str:
    if not is_number(seconds):
        return NOT_MEASURED
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s" if minutes else f"{seconds:.1f} s"


def fmt_counter(counts: Any) -> str:
    """{"1012": 1990, "1001": 10} as "1012: 1,990, 1001: 10"; "none" when empty."""
    if not isinstance(counts, Mapping):
        return NOT_MEASURED
    if not counts:
        return "none"
    return ", ".join(f"{key}: {fmt(count)}" for key, count in counts.items())


def fmt_rate(rate: Any) -> str:
    return f"{rate:g} msg/s" if is_number(rate) else f"rate {NOT_MEASURED}"


def fmt_percent(fraction: float) -> str:
    return f"{fraction * 100:.0f}%"


# -- figures -------------------------------------------------------------------


def ratio_of(value: Any, base: Any) -> float | None:
    """value / base; None when either is missing or base is not positive."""
    if is_number(value) and is_number(base) and base > 0:
        return value / base
    return None


def difference(value: Any, minus: Any) -> float | None:
    return value - minus if is_number(value) and is_number(minus) else None


def closes_per_client(run: Mapping[str, Any]) -> float | None:
    """Server closes (every close code, 1006 included) per client of the load."""
    closes = dig(run, "load", "server_closes")
    if not isinstance(closes, Mapping):
        return None
    return ratio_of(sum(count for count in closes.values() if is_number(count)), run.get("clients"))


def snapshot_counts(snapshot: Any) -> list[float]:
    """Open connections of the answering processes in a balance snapshot."""
    counts = dig(snapshot, "connections")
    if not isinstance(counts, Mapping):
        return []
    return [count for count in numbers(list(counts.values())) if count >= 0]


def balance(snapshot: Any) -> float | None:
    """Max over mean of the open connections per process."""
    return stats.balance(snapshot_counts(snapshot))


def run_steps(run: Mapping[str, Any]) -> list[dict[str, Any]]:
    steps = run.get("steps")
    return [step for step in steps if isinstance(step, dict)] if isinstance(steps, list) else []


def replace_steps(run: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The process replacements of a rollout (a step without an action is one: older results)."""
    return [step for step in run_steps(run) if step.get("action", REPLACE) == REPLACE]


def process_restarts(run: Mapping[str, Any]) -> int | None:
    return len(replace_steps(run)) if isinstance(run.get("steps"), list) else None


def batch_count(run: Mapping[str, Any]) -> int | None:
    batches = run.get("batches")
    return len(batches) if isinstance(batches, list) and batches else None


def module_seconds(run: Mapping[str, Any]) -> float | None:
    """The module's time on the critical path: the slowest host of each batch, summed."""
    batches, reports = run.get("batches"), section(run, "hosts")
    if not isinstance(batches, list) or not batches:
        return None
    total = 0.0
    for batch in batches:
        seconds = numbers([dig(reports, host, "seconds") for host in batch or []])
        if not seconds:
            return None
        total += max(seconds)
    return total


def step_seconds(steps: Iterable[Mapping[str, Any]], *keys: str) -> float | None:
    """The sum of some timings over steps; None when no step has them."""
    values = [step.get(key) for step in steps for key in keys]
    found = numbers(values)
    return sum(found) if found else None


def mean_of(steps: Sequence[Mapping[str, Any]], key: str) -> float | None:
    found = numbers([step.get(key) for step in steps])
    return sum(found) / len(found) if found else None


def rollout_figures(run: Mapping[str, Any], floor: Any) -> dict[str, Any]:
    """Wall time against the floor, per process restart and per host batch, and where it went."""
    wall = run.get("wall_seconds")
    restarts, batches = process_restarts(run), batch_count(run)
    overhead, module = difference(wall, floor), module_seconds(run)
    return {
        "wall_seconds": wall,
        "floor_seconds": floor if is_number(floor) else None,
        "ratio": ratio_of(wall, floor),
        "process_restarts": restarts,
        "batches": batches,
        "overhead_per_restart_seconds": ratio_of(overhead, restarts),
        "overhead_per_batch_seconds": ratio_of(overhead, batches),
        "wall_per_restart_seconds": ratio_of(wall, restarts),
        "wall_per_batch_seconds": ratio_of(wall, batches),
        "module_seconds": module,
        "process_step_seconds": step_seconds(
            replace_steps(run), "start_to_healthy_seconds", "drain_seconds"
        ),
        "ansible_seconds": difference(wall, module),
    }


def load_figures(run: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "wall_seconds": run.get("wall_seconds"),
        "closes_per_client": closes_per_client(run),
        "balance_before": balance(run.get("balance_before")),
        "balance_after": balance(run.get("balance_after")),
    }


def under_load_floor(results: Mapping[str, Any]) -> float | None:
    """The floor under the same load when measured (the surge by hand), else without load."""
    for keys in (("baselines_under_load", "surge_by_hand"), ("ansible",)):
        floor = dig(results, *keys, "floor_seconds")
        if is_number(floor):
            return floor
    return None


def results_figures(results: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Every figure the report judges, by run; runs not measured are left out."""
    figures = {}
    for mode in RESTART_MODES:
        run = section(results, "ansible", "rolling_restart", mode)
        if run:
            figures[f"rolling_restart_{mode}"] = rollout_figures(run, run.get("floor_seconds"))
    floor = under_load_floor(results)
    for key, _, _ in UNDER_LOAD_RUNS:
        run = section(results, key)
        if run:
            figures[key] = {**rollout_figures(run, floor), **load_figures(run)}
    for key, _, _ in BASELINE_RUNS:
        run = section(results, "baselines_under_load", key)
        if run:
            figures[f"{key}_under_load"] = load_figures(run)
    large = section(results, "large_fleet", "rolling_restart")
    if large:
        figures["large_fleet_rolling_restart"] = rollout_figures(large, large.get("floor_seconds"))
    return figures


# -- the header ----------------------------------------------------------------


def machine_summary(machine: Mapping[str, Any]) -> str:
    parts = []
    if is_number(machine.get("cpus")):
        parts.append(f"{machine['cpus']} CPUs")
    if is_number(machine.get("memory_gib")):
        parts.append(f"{machine['memory_gib']:g} GiB RAM")
    if machine.get("os"):
        parts.append(str(machine["os"]))
    if machine.get("kernel"):
        parts.append(f"kernel {machine['kernel']}")
    if machine.get("python"):
        parts.append(f"Python {machine['python']}")
    return ", ".join(parts) or "an undescribed machine"


# -- targets -------------------------------------------------------------------


def restart_under_load_measured(run: Mapping[str, Any]) -> str:
    load = section(run, "load")
    if not load:
        return NOT_MEASURED
    return (
        f"{fmt(load.get('handshakes_failed'))} failed handshakes, "
        f"{fmt(load.get('abnormal_closures'))} abnormal closures, "
        f"{fmt(load.get('messages_lost'))} lost messages "
        f"({fmt(run.get('clients'))} clients at {fmt_rate(run.get('rate'))})"
    )


def restart_under_load_status(run: Mapping[str, Any]) -> str:
    load = section(run, "load")
    if not load:
        return NOT_MEASURED
    counts = {
        "failed handshakes": load.get("handshakes_failed"),
        "abnormal closures": load.get("abnormal_closures"),
        "lost messages": load.get("messages_lost"),
    }
    clients = run.get("clients")
    problems = [
        f"{fmt(count)} {what}" for what, count in counts.items() if is_number(count) and count
    ]
    problems += [f"{what} {NOT_MEASURED}" for what, count in counts.items() if not is_number(count)]
    if not is_number(clients):
        problems.append(f"number of clients {NOT_MEASURED}")
    elif clients < TARGET_CLIENTS:
        problems.append(f"only {fmt(clients)} of {fmt(TARGET_CLIENTS)} clients were run")
    return "missed: " + "; ".join(problems) if problems else "met"


def restart_ratio(mode: Mapping[str, Any]) -> float | None:
    """Wall time over floor time, computed when the results don't give it."""
    if is_number(mode.get("ratio")):
        return float(mode["ratio"])
    wall, floor = mode.get("wall_seconds"), mode.get("floor_seconds")
    if is_number(wall) and is_number(floor) and floor > 0:
        return wall / floor
    return None


def restart_ratio_measured(mode: Mapping[str, Any]) -> str:
    text = "{value:.2f} x ({wall} wall, {floor} floor, with pipelining)"
    return against_floor(restart_ratio(mode), text, mode)


def restart_ratio_status(mode: Mapping[str, Any]) -> str:
    ratio = restart_ratio(mode)
    if ratio is None:
        return NOT_MEASURED
    if ratio <= TARGET_RESTART_RATIO:
        return "met"
    return f"missed by {fmt_percent(ratio / TARGET_RESTART_RATIO - 1)}"


def capacity_steps(edge: Mapping[str, Any]) -> list[tuple[int, bool]]:
    """[[connections, ok], ...] as (connections, ok), ignoring malformed steps."""
    steps = edge.get("steps")
    if not isinstance(steps, list):
        return []
    return [
        (step[0], bool(step[1]))
        for step in steps
        if isinstance(step, list | tuple) and len(step) >= 2 and is_number(step[0])
    ]


def steps_clean_up_to(steps: Sequence[tuple[int, bool]], connections: int) -> bool:
    """True when every step up to connections succeeded and one reached it."""
    reached = any(count >= connections and ok for count, ok in steps)
    return reached and all(ok for count, ok in steps if count <= connections)


def edge_capacity_measured(edge: Mapping[str, Any]) -> str:
    held = edge.get("held")
    if not is_number(held):
        return NOT_MEASURED
    error = edge.get("first_error")
    return f"{fmt(held)} held, " + ("no error" if error is None else f"first error: {error}")


def edge_capacity_status(edge: Mapping[str, Any]) -> str:
    held = edge.get("held")
    if not is_number(held):
        return NOT_MEASURED
    if held < TARGET_EDGE_CONNECTIONS:
        return f"missed: {fmt(held)} held"
    if edge.get("first_error") is None:
        return "met"
    if steps_clean_up_to(capacity_steps(edge), TARGET_EDGE_CONNECTIONS):
        return f"met (the first error came above {fmt(TARGET_EDGE_CONNECTIONS)})"
    return "missed: an error before the target"


def memory_measured(memory: Mapping[str, Any]) -> str:
    on = dig(memory, "compression_on", "per_connection_kib")
    off = dig(memory, "compression_off", "per_connection_kib")
    if not is_number(on) and not is_number(off):
        return NOT_MEASURED
    return f"{fmt(on, 1, 'KiB')} with compression, {fmt(off, 1, 'KiB')} without"


def memory_status(memory: Mapping[str, Any]) -> str:
    return NOT_MEASURED if memory_measured(memory) == NOT_MEASURED else "reported"


def at_most_status(value: float | None, target: float) -> str:
    if value is None:
        return NOT_MEASURED
    return "met" if value <= target else f"missed by {fmt_percent(value / target - 1)}"


def closes_measured(run: Mapping[str, Any], figures: Mapping[str, Any]) -> str:
    value = figures.get("closes_per_client")
    if value is None:
        return NOT_MEASURED
    closes = sum(numbers(list(section(run, "load", "server_closes").values())))
    return f"{value:.2f} ({fmt(int(closes))} server closes, {fmt(run.get('clients'))} clients)"


def balance_measured(snapshot: Any) -> str:
    value, counts = balance(snapshot), snapshot_counts(snapshot)
    if value is None:
        return NOT_MEASURED
    mean = sum(counts) / len(counts)
    return f"{value:.2f} (max {max(counts):,.0f}, mean {mean:,.0f}, {len(counts)} processes)"


def against_floor(value: float | None, text: str, figures: Mapping[str, Any]) -> str:
    """A figure of a rollout told with the wall and floor times it comes from (text's {value},
    {wall}, {floor}, {restarts}); not measured when it is missing."""
    if value is None:
        return NOT_MEASURED
    return text.format(
        value=value,
        wall=fmt(figures.get("wall_seconds"), 1, "s"),
        floor=fmt(figures.get("floor_seconds"), 1, "s"),
        restarts=fmt(figures.get("process_restarts")),
    )


def overhead_measured(figures: Mapping[str, Any]) -> str:
    value = figures.get("overhead_per_restart_seconds")
    text = "{value:.2f} s (({wall} wall - {floor} floor) / {restarts} process restarts)"
    return against_floor(value, text, figures)


def ratio_measured(figures: Mapping[str, Any]) -> str:
    return against_floor(
        figures.get("ratio"), "{value:.2f} x ({wall} wall, {floor} floor)", figures
    )


def under_load_target_rows(results: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """Closes per client and balance of both runs under load; overhead and ratio of the
    rolling restart (the deploy's wall time also holds its build)."""
    figures = results_figures(results)
    rows = []
    for key, title, _ in UNDER_LOAD_RUNS:
        run, found = section(results, key), figures.get(key, {})
        rows += [
            (
                f"{title.lower()}: ≤ {TARGET_CLOSES_PER_CLIENT:g} server closes per client",
                closes_measured(run, found),
                at_most_status(found.get("closes_per_client"), TARGET_CLOSES_PER_CLIENT),
            ),
            (
                f"{title.lower()}: balance after ≤ {TARGET_BALANCE:g} "
                "(max / mean open connections per process)",
                balance_measured(run.get("balance_after")),
                at_most_status(found.get("balance_after"), TARGET_BALANCE),
            ),
        ]
    rolling = figures.get(UNDER_LOAD_RUNS[0][0], {})
    return [
        *rows,
        (
            f"rolling restart under load: orchestration overhead ≤ "
            f"{TARGET_OVERHEAD_PER_RESTART:g} s per process restart",
            overhead_measured(rolling),
            at_most_status(
                rolling.get("overhead_per_restart_seconds"), TARGET_OVERHEAD_PER_RESTART
            ),
        ),
        (
            f"rolling restart under load: wall time ≤ {TARGET_UNDER_LOAD_RATIO:g} x its floor",
            ratio_measured(rolling),
            at_most_status(rolling.get("ratio"), TARGET_UNDER_LOAD_RATIO),
        ),
    ]


def target_rows(results: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """Every target: what it is, what was measured, met or missed."""
    rolling = section(results, "rolling_restart_under_load")
    pipelining = section(results, "ansible", "rolling_restart", "pipelining")
    edge = section(results, "capacity", "edge")
    memory = section(results, "capacity", "memory")
    return [
        (
            f"rolling restart under {fmt(TARGET_CLIENTS)} clients at {TARGET_RATE:g} msg/s: "
            "0 failed handshakes, 0 abnormal closures (1006), 0 lost messages",
            restart_under_load_measured(rolling),
            restart_under_load_status(rolling),
        ),
        (
            f"rolling restart wall time ≤ {TARGET_RESTART_RATIO:g} x its floor",
            restart_ratio_measured(pipelining),
            restart_ratio_status(pipelining),
        ),
        (
            f"≥ {fmt(TARGET_EDGE_CONNECTIONS)} concurrent connections through the edge "
            "with the defaults and no error",
            edge_capacity_measured(edge),
            edge_capacity_status(edge),
        ),
        (
            "memory per idle connection: reported",
            memory_measured(memory),
            memory_status(memory),
        ),
        *under_load_target_rows(results),
    ]


# -- analysis ------------------------------------------------------------------


def existing_analysis(readme: Path) -> str | None:
    """The text between the analysis markers of an existing README, if any."""
    if not readme.is_file():
        return None
    match = ANALYSIS_PATTERN.search(readme.read_text(encoding="utf-8"))
    if match is None or not match.group(1).strip():
        return None
    return match.group(1)


def targets_summary(rows: Sequence[tuple[str, str, str]]) -> str:
    met = [row for row in rows if row[2].startswith("met") or row[2] == "reported"]
    missed = [f"{target} ({status})" for target, _, status in rows if status.startswith("missed")]
    unmeasured = [row for row in rows if row[2] == NOT_MEASURED]
    text = f"Targets met: {len(met)} of {len(rows)}"
    if missed:
        text += ". Missed: " + "; ".join(missed)
    if unmeasured:
        text += f". Not measured: {len(unmeasured)}"
    return text + "."


def time_breakdown(label: str, figures: Mapping[str, Any]) -> str | None:
    """Where the wall time of one rollout went: the module on the hosts, and Ansible."""
    wall, module = figures.get("wall_seconds"), figures.get("module_seconds")
    ansible, batches = figures.get("ansible_seconds"), figures.get("batches")
    if not is_number(wall) or module is None or ansible is None:
        return None
    text = (
        f"{label}: {wall:.1f} s wall over {fmt(batches)} host batches and "
        f"{fmt(figures.get('process_restarts'))} process restarts. The app_rollout module "
        f"ran {module:.1f} s of it on the hosts (the slowest host of each batch)"
    )
    steps, floor = figures.get("process_step_seconds"), figures.get("floor_seconds")
    if steps is not None:
        text += (
            f"; its processes' start-to-healthy and drain steps add up to {steps:.1f} s over "
            f"all hosts, against a floor of {fmt(floor, 1, 's')}"
        )
    return (
        text + f". The other {ansible:.1f} s ({fmt_percent(ansible / wall)} of the wall) are "
        f"Ansible's per-task and per-batch cost: {fmt(ratio_of(ansible, batches), 1, 's')} "
        "per host batch."
    )


def per_process_comparison(results: Mapping[str, Any]) -> str | None:
    """The module's own timings of a process against the floor's, without load."""
    steps = replace_steps(section(results, "ansible", "rolling_restart", "pipelining"))
    floor_steps = dig(results, "ansible", "floor_steps")
    floor_steps = (
        [s for s in floor_steps if isinstance(s, dict)] if isinstance(floor_steps, list) else []
    )
    if not steps or not floor_steps:
        return None
    means = {
        key: (mean_of(steps, key), mean_of(floor_steps, key))
        for key in ("start_to_healthy_seconds", "drain_seconds")
    }
    start, drain = means["start_to_healthy_seconds"], means["drain_seconds"]
    return (
        f"Per process without load, the module's start to healthy (its gate included) "
        f"averages {fmt(start[0], 2, 's')} against the floor's {fmt(start[1], 2, 's')}, "
        f"its drain {fmt(drain[0], 2, 's')} against {fmt(drain[1], 2, 's')}."
    )


def generated_findings(results: Mapping[str, Any]) -> list[str]:
    figures = results_figures(results)
    findings = [
        targets_summary(target_rows(results)),
        time_breakdown(
            "Rolling restart without load (pipelining)",
            figures.get("rolling_restart_pipelining", {}),
        ),
        per_process_comparison(results),
        time_breakdown("Rolling restart under load", figures.get("rolling_restart_under_load", {})),
        time_breakdown(
            "Rolling restart of the large fleet", figures.get("large_fleet_rolling_restart", {})
        ),
        scaling_summary(results),
    ]
    return [f"- {finding}" for finding in findings if finding]


# -- under load ----------------------------------------------------------------


def load_reconnect_delay(load: Mapping[str, Any]) -> dict[str, float | None]:
    """Reconnect delay percentiles in seconds: the report's own, else from the samples."""
    summary = load.get("reconnect_delay")
    if isinstance(summary, Mapping) and summary:
        return {key: summary.get(key) for key in ("p50", "p90", "p99", "max")}
    return stats.percentiles(numbers(load.get("reconnect_delays")), (50, 90, 99), digits=None)


def run_socket_events(run: Mapping[str, Any]) -> list[dict[str, Any]]:
    events = run.get("socket_events")
    if not isinstance(events, list):
        return []
    return [event for event in events if isinstance(event, dict) and is_number(event.get("at"))]


def under_load_summary(run: Mapping[str, Any]) -> str:
    events = [event.get("event") for event in run_socket_events(run)]
    return (
        f"{fmt(run.get('clients'))} clients at {fmt_rate(run.get('rate'))}; "
        f"{fmt(run.get('wall_seconds'), 1, 's')} wall; while sampled, {events.count('up')} "
        f"process sockets came up and {events.count('gone')} went away."
    )


def load_rows(load: Mapping[str, Any]) -> list[tuple[str, str]]:
    delay = load_reconnect_delay(load)
    latency = section(load, "latency")
    return [
        (
            "handshakes ok / failed",
            f"{fmt(load.get('handshakes_ok'))} / {fmt(load.get('handshakes_failed'))}",
        ),
        ("failed handshakes by reason", fmt_counter(load.get("handshake_failures"))),
        ("server close codes", fmt_counter(load.get("server_closes"))),
        ("abnormal closures (1006)", fmt(load.get("abnormal_closures"))),
        (
            "messages sent / acknowledged / lost",
            " / ".join(
                fmt(load.get(key))
                for key in ("messages_sent", "messages_acknowledged", "messages_lost")
            ),
        ),
        (
            "messages resent / duplicates",
            f"{fmt(load.get('messages_resent'))} / {fmt(load.get('duplicates'))}",
        ),
        ("reconnects", fmt(load.get("reconnects"))),
        (
            "reconnect delay p50 / p90 / p99 / max",
            " / ".join(fmt_ms_from_seconds(delay.get(key)) for key in ("p50", "p90", "p99", "max")),
        ),
        (
            "round trip p50 / p99 / max",
            " / ".join(fmt_ms_from_seconds(latency.get(key)) for key in ("p50", "p99", "max")),
        ),
    ]


def pair(first: str, second: str) -> str:
    return f"{first} / {second}"


def rollout_rows(figures: Mapping[str, Any]) -> list[tuple[str, str]]:
    ratio = figures.get("ratio")
    return [
        ("server closes per client", fmt(figures.get("closes_per_client"), 2)),
        (
            "balance before / after (max / mean open connections per process)",
            pair(fmt(figures.get("balance_before"), 2), fmt(figures.get("balance_after"), 2)),
        ),
        (
            "process restarts / host batches",
            pair(fmt(figures.get("process_restarts")), fmt(figures.get("batches"))),
        ),
        (
            "wall / floor",
            pair(
                fmt(figures.get("wall_seconds"), 1, "s"), fmt(figures.get("floor_seconds"), 1, "s")
            )
            + (f" ({ratio:.2f} x)" if ratio is not None else ""),
        ),
        (
            "overhead per process restart / per host batch",
            pair(
                fmt(figures.get("overhead_per_restart_seconds"), 2, "s"),
                fmt(figures.get("overhead_per_batch_seconds"), 2, "s"),
            ),
        ),
        (
            "app_rollout module (critical path) / the rest (Ansible)",
            pair(
                fmt(figures.get("module_seconds"), 1, "s"),
                fmt(figures.get("ansible_seconds"), 1, "s"),
            ),
        ),
    ]


def floor_source(results: Mapping[str, Any]) -> str:
    if is_number(dig(results, "baselines_under_load", "surge_by_hand", "floor_seconds")):
        return "the surge by hand under the same load"
    return "the surge by hand without load"


# -- without the collection ----------------------------------------------------


def compared_runs(results: Mapping[str, Any]) -> list[tuple[str, dict, dict]]:
    """(column title, run, figures) of the collection's runs under load, then the baselines."""
    figures = results_figures(results)
    runs = [
        (f"{title.lower()} (collection)", section(results, key), figures.get(key, {}))
        for key, title, _ in UNDER_LOAD_RUNS
    ]
    runs += [
        (title, section(results, "baselines_under_load", key), figures.get(f"{key}_under_load", {}))
        for key, title, _ in BASELINE_RUNS
    ]
    return runs


COMPARISON_METRICS: tuple[tuple[str, Callable[[Mapping, Mapping], str]], ...] = (
    ("wall", lambda run, figures: fmt(run.get("wall_seconds"), 1, "s")),
    ("failed handshakes", lambda run, figures: fmt(dig(run, "load", "handshakes_failed"))),
    ("abnormal closures (1006)", lambda run, figures: fmt(dig(run, "load", "abnormal_closures"))),
    ("lost messages", lambda run, figures: fmt(dig(run, "load", "messages_lost"))),
    ("server closes per client", lambda run, figures: fmt(figures.get("closes_per_client"), 2)),
    ("balance after", lambda run, figures: fmt(figures.get("balance_after"), 2)),
    (
        "reconnect delay p99",
        lambda run, figures: fmt_ms_from_seconds(
            load_reconnect_delay(section(run, "load")).get("p99")
        ),
    ),
)


def any_run(runs: Sequence[tuple[str, dict, dict]]) -> bool:
    return any(run for _, run, _ in runs)


def comparison_headers(runs: Sequence[tuple[str, dict, dict]]) -> list[str]:
    return ["", *(title for title, _, _ in runs)]


def comparison_rows(runs: Sequence[tuple[str, dict, dict]]) -> list[tuple[str, ...]]:
    """One row a metric, one column a run (the collection's, then the baselines)."""
    return [
        (label, *(cell(run, figures) if run else NOT_MEASURED for _, run, figures in runs))
        for label, cell in COMPARISON_METRICS
    ]


# -- ansible speed -------------------------------------------------------------


def converge_rows(ansible: Mapping[str, Any]) -> list[tuple[str, str]]:
    changed = ansible.get("noop_changed")
    noop = fmt(ansible.get("noop_seconds"), 1, "s")
    if is_number(changed):
        noop += f" ({fmt(changed)} changed)"
    return [
        ("first converge", fmt(ansible.get("first_converge_seconds"), 1, "s")),
        ("no-op converge, with pipelining", noop),
        (
            "no-op converge, without pipelining",
            fmt(ansible.get("noop_seconds_without_pipelining"), 1, "s"),
        ),
    ]


def floor_summary(steps: Any) -> str:
    steps = [step for step in steps if isinstance(step, dict)] if isinstance(steps, list) else []
    if not steps:
        return f"The floor: {NOT_MEASURED}."
    means = [
        f"{fmt(mean_of(steps, key), 3, 's')} {what}"
        for key, what in (
            ("start_to_healthy_seconds", "start to healthy"),
            ("switch_seconds", "switch"),
            ("drain_seconds", "stop (drain)"),
        )
    ]
    return (
        f"The floor: {len(steps)} processes replaced by surge on their hosts without Ansible "
        f"(start the other side, healthy, switch the slot's link, stop the old side), "
        f"{fmt(step_seconds(steps, 'total_seconds'), 1, 's')} in all; per process on average "
        + ", ".join(means)
        + "."
    )


# -- scaling -------------------------------------------------------------------


def fleet_shape(run: Mapping[str, Any]) -> str:
    """ "3 hosts x 2 processes", from the run's batches and process restarts."""
    batches, restarts = run.get("batches"), process_restarts(run)
    if not isinstance(batches, list) or not restarts:
        return NOT_MEASURED
    hosts = sum(len(batch) for batch in batches if isinstance(batch, list))
    return f"{hosts} hosts x {restarts / hosts:g} processes" if hosts else NOT_MEASURED


def scaling_runs(results: Mapping[str, Any]) -> list[tuple[dict, dict]]:
    """(run, figures) of the rolling restart without load of the default and large fleets."""
    figures = results_figures(results)
    return [
        (
            section(results, "ansible", "rolling_restart", "pipelining"),
            figures.get("rolling_restart_pipelining", {}),
        ),
        (
            section(results, "large_fleet", "rolling_restart"),
            figures.get("large_fleet_rolling_restart", {}),
        ),
    ]


def scaling_summary(results: Mapping[str, Any]) -> str | None:
    """Whether wall time grows with the host batches or with the processes."""
    (small_run, small), (large_run, large) = scaling_runs(results)
    growth = {
        key: ratio_of(large.get(key), small.get(key))
        for key in ("wall_seconds", "batches", "process_restarts")
    }
    if None in growth.values():
        return None
    wall, batches, restarts = growth.values()
    by_batches = abs(math.log(wall / batches)) <= abs(math.log(wall / restarts))
    follows = "the host batches" if by_batches else "the processes (hosts x processes)"
    return (
        f"From {fleet_shape(small_run)} to {fleet_shape(large_run)}, wall time grew "
        f"{wall:.2f} x while host batches grew {batches:.2f} x and process restarts "
        f"{restarts:.2f} x: it follows {follows}. Wall per host batch "
        f"{fmt(small.get('wall_per_batch_seconds'), 1, 's')} → "
        f"{fmt(large.get('wall_per_batch_seconds'), 1, 's')}, per process restart "
        f"{fmt(small.get('wall_per_restart_seconds'), 2, 's')} → "
        f"{fmt(large.get('wall_per_restart_seconds'), 2, 's')}."
    )


# -- capacity ------------------------------------------------------------------


def memory_row(label: str, memory: Mapping[str, Any]) -> tuple[str, ...]:
    return (
        label,
        fmt(memory.get("connections")),
        fmt(memory.get("rss_before_kib"), 0, "KiB"),
        fmt(memory.get("rss_after_kib"), 0, "KiB"),
        fmt(memory.get("per_connection_kib"), 1, "KiB"),
    )


def capacity_rows(steps: Sequence[tuple[int, bool]]) -> list[tuple[str, str]]:
    return [(fmt(count), "ok" if ok else "error") for count, ok in steps]


def memory_rows(capacity: Mapping[str, Any]) -> list[tuple[str, ...]]:
    memory = section(capacity, "memory")
    return [
        memory_row("on", section(memory, "compression_on")),
        memory_row("off", section(memory, "compression_off")),
    ]


# -- latency -------------------------------------------------------------------


def latency_paths(results: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The measured paths, the known ones first, each with a readable name."""
    latency = section(results, "latency")
    names = [name for name in LATENCY_PATHS if name in latency]
    names += sorted(name for name in latency if name not in LATENCY_PATHS)
    return {name: latency[name] for name in names if isinstance(latency[name], dict)}


def latency_percentile(path: Mapping[str, Any], key: str) -> float | None:
    """A percentile in ms: the results' own, else computed from the samples."""
    if is_number(path.get(key)):
        return float(path[key])
    ordered = sorted(numbers(path.get("samples")))
    point = LATENCY_KEYS[key][1]
    if point is None:
        return ordered[-1] if ordered else None
    return nearest_rank(ordered, point)


def latency_row(name: str, path: Mapping[str, Any]) -> tuple[str, ...]:
    percentiles = [fmt(latency_percentile(path, key), 2) for key in LATENCY_KEYS]
    return (LATENCY_PATHS.get(name, name), fmt(len(numbers(path.get("samples")))), *percentiles)


LATENCY_HEADERS = ("path", "samples", *(f"{label} (ms)" for label, _ in LATENCY_KEYS.values()))


def latency_rows(paths: Mapping[str, Mapping[str, Any]]) -> list[tuple[str, ...]]:
    return [latency_row(name, path) for name, path in paths.items()]


# -- the other benchmarks' reports ---------------------------------------------


def render_report(bench_name: str, results: Mapping[str, Any], **context: Any) -> str:
    """A bench module's report: templates/<its REPORT_NAME>.j2, which reads the module itself
    (bench), its results and their settings, and formats with fmt(); context is what else the
    template needs."""
    bench = sys.modules[bench_name]
    return render_template(
        TEMPLATES,
        bench.REPORT_NAME + ".j2",
        bench=bench,
        results=results,
        settings=section(results, "settings"),
        fmt=fmt,
        **context,
    )


# -- the README ----------------------------------------------------------------


def render_readme(results: Mapping[str, Any], plots: set[str], analysis: str | None) -> str:
    """The README from its template (templates/README.md.j2), which reads this module."""
    report = sys.modules[__name__]
    return render_template(
        TEMPLATES, "README.md.j2", r=report, results=results, plots=plots, analysis=analysis
    )


# -- plots ---------------------------------------------------------------------


def new_figure(width: float = 10.0, height: float = 5.0) -> tuple[Figure, Any]:
    """A figure on the Agg canvas, outside pyplot's global state."""
    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure, figure.add_subplot()


def save_figure(figure: Figure | None, path: Path) -> list[Path]:
    if figure is None:
        return []
    figure.savefig(path, format="png", dpi=PLOT_DPI)
    return [path]


def connection_series(run: Mapping[str, Any]) -> dict[str, tuple[list[float], list[float]]]:
    """Process socket name -> (seconds, open connections), in natural order; a sample where
    the socket did not answer (-1) is NaN, a gap in its line."""
    connections = run.get("connections")
    if not isinstance(connections, Mapping):
        return {}
    series = {}
    for name in sorted(connections, key=natural_key):
        points = sorted(
            (float(point[0]), float(point[1]) if point[1] >= 0 else math.nan)
            for point in connections[name] or []
            if isinstance(point, list | tuple) and len(point) >= 2
            if is_number(point[0]) and is_number(point[1])
        )
        if points:
            series[name] = ([x for x, _ in points], [y for _, y in points])
    return series


def event_level(series: tuple[list[float], list[float]] | None, at: float) -> float:
    """The open connections of a socket's last answering sample at or before a moment."""
    if not series:
        return 0.0
    levels = [y for x, y in zip(*series, strict=True) if x <= at and not math.isnan(y)]
    return levels[-1] if levels else 0.0


def slot_colours(series: Mapping[str, Any]) -> dict[str, Any]:
    """One colour per process slot: its two sides (app1/1a, app1/1b) share it."""
    palette = [f"C{index}" for index in range(10)]
    slots = sorted({name.rstrip("ab") for name in series}, key=natural_key)
    colour_of = {slot: palette[index % len(palette)] for index, slot in enumerate(slots)}
    return {name: colour_of[name.rstrip("ab")] for name in series}


def mark_socket_event(axes: Any, event: Mapping[str, Any], colour: Any, series: Any) -> None:
    """A marker where a socket came up (^) or went away (v)."""
    marker = "^" if event.get("event") == "up" else "v"
    level = event_level(series, event["at"])
    axes.plot([event["at"]], [level], marker=marker, markersize=5, color=colour, linestyle="none")


def plot_connections(run: Mapping[str, Any], title: str) -> Figure | None:
    series = connection_series(run)
    if not series:
        return None
    figure, axes = new_figure()
    colours = slot_colours(series)
    for name, (seconds, counts) in series.items():
        style = "--" if name.endswith("b") else "-"
        axes.plot(seconds, counts, style, color=colours[name], label=name, linewidth=1.2)
    for event in run_socket_events(run):
        name = process_name(event.get("host"), event.get("socket"))
        mark_socket_event(axes, event, colours.get(name, "grey"), series.get(name))
    handles, _ = axes.get_legend_handles_labels()
    for marker, label in (("^", "socket came up"), ("v", "socket went away")):
        handles.append(Line2D([], [], marker=marker, color="grey", linestyle="none", label=label))
    axes.legend(handles=handles, fontsize="small", ncols=1 + len(handles) // 10, loc="best")
    axes.set_xlabel("seconds since the load started")
    axes.set_ylabel("open connections")
    axes.set_ylim(bottom=0)
    axes.grid(alpha=0.3)
    axes.set_title(
        f"Open connections per process, {title}: {fmt(run.get('clients'))} clients "
        f"at {fmt_rate(run.get('rate'))}"
    )
    return figure


def plot_reconnect_delays(run: Mapping[str, Any]) -> Figure | None:
    delays_ms = sorted(delay * 1000 for delay in numbers(dig(run, "load", "reconnect_delays")))
    if not delays_ms:
        return None
    figure, axes = new_figure(8.0, 4.5)
    axes.hist(delays_ms, bins=min(60, max(10, len(delays_ms) // 20)), color="tab:blue")
    for point, style in ((50, "--"), (99, ":")):
        value = nearest_rank(delays_ms, point)
        axes.axvline(value, color="black", linestyle=style, label=f"p{point} {value:,.0f} ms")
    axes.set_xlabel("reconnect delay: close to next successful handshake (ms)")
    axes.set_ylabel("reconnects")
    axes.legend()
    axes.grid(alpha=0.3)
    axes.set_title(f"Reconnect delays during the rolling restart ({len(delays_ms):,} reconnects)")
    return figure


def latency_label(name: str, path: Mapping[str, Any]) -> str:
    p50, p99 = latency_percentile(path, "p50"), latency_percentile(path, "p99")
    return f"{LATENCY_PATHS.get(name, name)}: p50 {fmt(p50, 2)} ms, p99 {fmt(p99, 2)} ms"


def plot_latency(results: Mapping[str, Any]) -> Figure | None:
    curves = {
        name: (sorted(value for value in numbers(path.get("samples")) if value > 0), path)
        for name, path in latency_paths(results).items()
    }
    curves = {name: curve for name, curve in curves.items() if curve[0]}
    if not curves:
        return None
    figure, axes = new_figure(8.0, 4.5)
    for name, (samples, path) in curves.items():
        fractions = np.arange(1, len(samples) + 1) / len(samples)
        axes.step(samples, fractions, where="post", label=latency_label(name, path))
    axes.set_xscale("log")
    axes.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    axes.set_xlabel("latency (ms, log scale)")
    axes.set_ylabel("fraction of samples ≤ latency")
    axes.set_ylim(0, 1.01)
    axes.grid(alpha=0.3, which="both")
    axes.legend(fontsize="small", loc="lower right")
    axes.set_title("Latency by path (CDF)")
    return figure


def write_plots(results: Mapping[str, Any], out_dir: Path) -> list[Path]:
    written = []
    for key, title, filename in UNDER_LOAD_RUNS:
        figure = plot_connections(section(results, key), title.lower())
        written += save_figure(figure, out_dir / filename)
    for key, title, filename in BASELINE_RUNS:
        figure = plot_connections(section(results, "baselines_under_load", key), title)
        written += save_figure(figure, out_dir / filename)
    rolling = section(results, UNDER_LOAD_RUNS[0][0])
    written += save_figure(plot_reconnect_delays(rolling), out_dir / RECONNECT_DELAYS_PLOT)
    written += save_figure(plot_latency(results), out_dir / LATENCY_PLOT)
    return written


# -- entry points --------------------------------------------------------------


def write_report(results: dict, out_dir: Path) -> list[Path]:
    """Write out_dir/README.md and the plots; return the files written."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    readme = out_dir / README_NAME
    analysis = existing_analysis(readme)
    plots = write_plots(results, out_dir)
    text = render_readme(results, {plot.name for plot in plots}, analysis)
    readme.write_text(text, encoding="utf-8")
    return [*plots, readme]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.report",
        description="Markdown report and PNG plots from a benchmark results JSON file.",
    )
    parser.add_argument("results", type=Path, help="results JSON written by bench/run.py")
    parser.add_argument("--out", type=Path, help="output folder (default: the JSON's folder)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        results = json.loads(args.results.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        print(f"bench.report: cannot read {args.results}: {exc}", file=sys.stderr)
        return 2
    if not isinstance(results, dict):
        print(f"bench.report: {args.results} does not hold a JSON object", file=sys.stderr)
        return 2
    for path in write_report(results, args.out or args.results.parent):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
