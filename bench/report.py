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
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter

NOT_MEASURED = "not measured"
TARGET_CLIENTS = 2000
TARGET_RATE = 1.0
TARGET_RESTART_RATIO = 1.25
TARGET_EDGE_CONNECTIONS = 4000
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


def nearest_rank(ordered: Sequence[float], point: float) -> float | None:
    """Nearest-rank percentile of sorted values, as bench/wsload.py computes them."""
    if not ordered:
        return None
    return ordered[max(math.ceil(point / 100 * len(ordered)) - 1, 0)]


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


def fmt_range(low: float, high: float) -> str:
    return f"{low:.2f}" if f"{low:.2f}" == f"{high:.2f}" else f"{low:.2f} to {high:.2f}"


def fmt_percent(fraction: float) -> str:
    return f"{fraction * 100:.0f}%"


def table_cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def markdown_table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[str]:
    lines = [
        "| " + " | ".join(headers) + " |",
        "|" + "|".join("---" for _ in headers) + "|",
    ]
    lines.extend("| " + " | ".join(table_cell(cell) for cell in row) + " |" for row in rows)
    return lines


def plot_link(alt: str, filename: str, plots: set[str]) -> list[str]:
    """A Markdown image with a relative path, or nothing when the plot wasn't drawn."""
    return [f"![{alt}]({filename})", ""] if filename in plots else []


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


def fleet_summary(fleet: Mapping[str, Any]) -> str:
    if not fleet:
        return f"fleet {NOT_MEASURED}"
    return (
        f"{fmt(fleet.get('app_hosts'))} app hosts x {fmt(fleet.get('processes_per_host'))} "
        f"processes, {fmt(fleet.get('edge_hosts'))} edge host(s)"
    )


def header_lines(results: Mapping[str, Any]) -> list[str]:
    command = results.get("command") or "an unknown command"
    started = results.get("started") or "an unknown date"
    return [
        "# Benchmarks",
        "",
        f"Made by `{command}` on {machine_summary(section(results, 'machine'))}, {started}.",
        "",
        f"Fleet: {fleet_summary(section(results, 'fleet'))}; the whole run took "
        f"{fmt_duration(results.get('duration_seconds'))}.",
        "",
    ]


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
    ratio = restart_ratio(mode)
    if ratio is None:
        return NOT_MEASURED
    return (
        f"{ratio:.2f} x ({fmt(mode.get('wall_seconds'), 1, 's')} wall, "
        f"{fmt(mode.get('floor_seconds'), 1, 's')} floor, with pipelining)"
    )


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


def targets_lines(results: Mapping[str, Any]) -> list[str]:
    rolling = section(results, "rolling_restart_under_load")
    pipelining = section(results, "ansible", "rolling_restart", "pipelining")
    edge = section(results, "capacity", "edge")
    memory = section(results, "capacity", "memory")
    rows = [
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
    ]
    return ["## Targets", "", *markdown_table(("target", "measured", "met?"), rows), ""]


# -- analysis ------------------------------------------------------------------


def existing_analysis(readme: Path) -> str | None:
    """The text between the analysis markers of an existing README, if any."""
    if not readme.is_file():
        return None
    match = ANALYSIS_PATTERN.search(readme.read_text(encoding="utf-8"))
    if match is None or not match.group(1).strip():
        return None
    return match.group(1)


def analysis_lines(analysis: str | None) -> list[str]:
    body = analysis if analysis is not None else f"\n{ANALYSIS_PLACEHOLDER}\n"
    return [
        "## Analysis",
        "",
        "<!-- Written by a human: bench.report keeps the text between these markers. -->",
        ANALYSIS_START + body + ANALYSIS_END,
        "",
    ]


# -- under load ----------------------------------------------------------------


def load_reconnect_delay(load: Mapping[str, Any]) -> dict[str, float | None]:
    """Reconnect delay percentiles in seconds: the report's own, else from the samples."""
    summary = load.get("reconnect_delay")
    if isinstance(summary, Mapping) and summary:
        return {key: summary.get(key) for key in ("p50", "p90", "p99", "max")}
    ordered = sorted(numbers(load.get("reconnect_delays")))
    summary = {f"p{point}": nearest_rank(ordered, point) for point in (50, 90, 99)}
    return {**summary, "max": ordered[-1] if ordered else None}


def restart_downtimes(run: Mapping[str, Any]) -> list[float]:
    """Seconds from stopped to healthy of each restart."""
    return [
        restart["healthy_at"] - restart["stopped_at"]
        for restart in run_restarts(run)
        if is_number(restart.get("healthy_at"))
    ]


def run_restarts(run: Mapping[str, Any]) -> list[dict[str, Any]]:
    restarts = run.get("restarts")
    if not isinstance(restarts, list):
        return []
    return [r for r in restarts if isinstance(r, dict) and is_number(r.get("stopped_at"))]


def under_load_summary(run: Mapping[str, Any]) -> str:
    downtimes = restart_downtimes(run)
    restarts = f"{len(run_restarts(run))} process restarts"
    if downtimes:
        restarts += f", each {fmt_range(min(downtimes), max(downtimes))} s from stopped to healthy"
    return (
        f"{fmt(run.get('clients'))} clients at {fmt_rate(run.get('rate'))}; "
        f"{fmt(run.get('wall_seconds'), 1, 's')} wall; {restarts}."
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


def under_load_lines(
    results: Mapping[str, Any], key: str, title: str, plot: str, plots: set[str]
) -> list[str]:
    run = section(results, key)
    lines = [f"## {title}", ""]
    if not run:
        return [*lines, f"{NOT_MEASURED.capitalize()}.", ""]
    lines += [under_load_summary(run), ""]
    load = section(run, "load")
    if load:
        lines += [*markdown_table(("", "measured"), load_rows(load)), ""]
    else:
        lines += [f"Load report: {NOT_MEASURED}.", ""]
    lines += plot_link(f"Open connections per process: {title.lower()}", plot, plots)
    if key == UNDER_LOAD_RUNS[0][0]:
        lines += plot_link("Reconnect delays", RECONNECT_DELAYS_PLOT, plots)
    return lines


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


def overhead_per_step(mode: Mapping[str, Any]) -> float | None:
    wall, floor, steps = mode.get("wall_seconds"), mode.get("floor_seconds"), mode.get("steps")
    if not (is_number(wall) and is_number(floor) and isinstance(steps, list) and steps):
        return None
    return (wall - floor) / len(steps)


def restart_mode_row(label: str, mode: Mapping[str, Any]) -> tuple[str, ...]:
    ratio = restart_ratio(mode)
    steps = mode.get("steps")
    return (
        label,
        fmt(mode.get("wall_seconds"), 1, "s"),
        fmt(mode.get("floor_seconds"), 1, "s"),
        f"{ratio:.2f} x" if ratio is not None else NOT_MEASURED,
        fmt(len(steps)) if isinstance(steps, list) else NOT_MEASURED,
        fmt(overhead_per_step(mode), 2, "s"),
    )


def ansible_lines(results: Mapping[str, Any]) -> list[str]:
    ansible = section(results, "ansible")
    lines = ["## Ansible speed", ""]
    if not ansible:
        return [*lines, f"{NOT_MEASURED.capitalize()}.", ""]
    lines += [*markdown_table(("run", "wall time"), converge_rows(ansible)), ""]
    lines += [
        "Rolling restart: the floor is the sum of each process's drain and start-to-healthy "
        "time; the overhead per step is (wall - floor) / steps.",
        "",
    ]
    modes = section(ansible, "rolling_restart")
    rows = [restart_mode_row(label, section(modes, key)) for key, label in RESTART_MODES.items()]
    headers = ("mode", "wall", "floor", "wall / floor", "steps", "overhead per step")
    return [*lines, *markdown_table(headers, rows), ""]


# -- capacity ------------------------------------------------------------------


def memory_row(label: str, memory: Mapping[str, Any]) -> tuple[str, ...]:
    return (
        label,
        fmt(memory.get("connections")),
        fmt(memory.get("rss_before_kib"), 0, "KiB"),
        fmt(memory.get("rss_after_kib"), 0, "KiB"),
        fmt(memory.get("per_connection_kib"), 1, "KiB"),
    )


def capacity_lines(results: Mapping[str, Any]) -> list[str]:
    capacity = section(results, "capacity")
    lines = ["## Capacity", ""]
    if not capacity:
        return [*lines, f"{NOT_MEASURED.capitalize()}.", ""]
    edge = section(capacity, "edge")
    lines += [
        f"Concurrent idle connections through the edge, in steps up to "
        f"{fmt(capacity.get('target'))}: {edge_capacity_measured(edge)}.",
        "",
    ]
    steps = capacity_steps(edge)
    if steps:
        rows = [(fmt(count), "ok" if ok else "error") for count, ok in steps]
        lines += [*markdown_table(("connections", "result"), rows), ""]
    memory = section(capacity, "memory")
    rows = [
        memory_row("on", section(memory, "compression_on")),
        memory_row("off", section(memory, "compression_off")),
    ]
    headers = ("compression", "connections", "RSS before", "RSS after", "per connection")
    return [*lines, "Memory per idle connection:", "", *markdown_table(headers, rows), ""]


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


def latency_lines(results: Mapping[str, Any], plots: set[str]) -> list[str]:
    paths = latency_paths(results)
    lines = ["## Latency", ""]
    if not paths:
        return [*lines, f"{NOT_MEASURED.capitalize()}.", ""]
    rows = [latency_row(name, path) for name, path in paths.items()]
    headers = ("path", "samples", *(f"{label} (ms)" for label, _ in LATENCY_KEYS.values()))
    return [*lines, *markdown_table(headers, rows), "", *plot_link("Latency", LATENCY_PLOT, plots)]


# -- the README ----------------------------------------------------------------


def render_readme(results: Mapping[str, Any], plots: set[str], analysis: str | None) -> str:
    lines = [*header_lines(results), *targets_lines(results), *analysis_lines(analysis)]
    for key, title, plot in UNDER_LOAD_RUNS:
        lines += under_load_lines(results, key, title, plot, plots)
    lines += [*ansible_lines(results), *capacity_lines(results), *latency_lines(results, plots)]
    return "\n".join(lines).rstrip("\n") + "\n"


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
    """Process name -> (seconds, open connections), processes in natural order."""
    connections = run.get("connections")
    if not isinstance(connections, Mapping):
        return {}
    series = {}
    for name in sorted(connections, key=natural_key):
        points = [
            (float(point[0]), float(point[1]))
            for point in connections[name] or []
            if isinstance(point, list | tuple) and len(point) >= 2
            if is_number(point[0]) and is_number(point[1])
        ]
        if points:
            points.sort()
            series[name] = ([x for x, _ in points], [y for _, y in points])
    return series


def mark_restart(axes: Any, restart: Mapping[str, Any], colour: Any, series: Any) -> None:
    """A thin translucent span from stopped to healthy and a marker where it stopped."""
    stopped = restart["stopped_at"]
    healthy = restart.get("healthy_at")
    end = healthy if is_number(healthy) and healthy > stopped else stopped
    axes.axvspan(stopped, end, color=colour, alpha=0.25, linewidth=0.6)
    level = float(np.interp(stopped, *series)) if series else 0.0
    axes.plot([stopped], [level], marker="v", markersize=5, color=colour, linestyle="none")


def plot_connections(run: Mapping[str, Any]) -> Figure | None:
    series = connection_series(run)
    if not series:
        return None
    figure, axes = new_figure()
    colours = {}
    for name, (seconds, counts) in series.items():
        (line,) = axes.plot(seconds, counts, label=name, linewidth=1.2)
        colours[name] = line.get_color()
    for restart in run_restarts(run):
        name = process_name(restart.get("host"), restart.get("process"))
        mark_restart(axes, restart, colours.get(name, "grey"), series.get(name))
    handles, _ = axes.get_legend_handles_labels()
    handles.append(Patch(color="grey", alpha=0.25, label="restart: stopped → healthy"))
    axes.legend(handles=handles, fontsize="small", ncols=1 + len(handles) // 10, loc="best")
    axes.set_xlabel("seconds since the load started")
    axes.set_ylabel("open connections")
    axes.set_ylim(bottom=0)
    axes.grid(alpha=0.3)
    axes.set_title(
        f"Open connections per process: {fmt(run.get('clients'))} clients "
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
    for key, _, filename in UNDER_LOAD_RUNS:
        written += save_figure(plot_connections(section(results, key)), out_dir / filename)
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
