"""NGINX or HAProxy at the edge: both measured on the same fleet in one run, and their report.

    .venv/bin/python -m bench.routers [--out docs/benchmarks] [--clients 2000] [--capacity 8000]
                                      [--handshake-seconds 30] [--handshakers 32]
                                      [--latency-samples 2000] [--switch-back] [--keep-fleet]

bench/run.py's fleet (3 app hosts with 2 processes each, 1 edge, 1 ACME host; NGINX on the app
hosts throughout) is deployed with NGINX at the edge and measured; then only the edge changes to
HAProxy (site.yml with an inventory layered over the bench one that sets the group edge's
wsfleet_router, limited to the edge host) and is measured the same way. For each router:

- Latency: sequential echo round trips through the edge over TLS, p50/p90/p99.
- Memory per idle connection at the edge: the RSS of every process of the router on the edge
  host, restarted first, before and while it holds min(CAPACITY, 2000) idle wss connections.
- Connections held with the collection's defaults: idle wss connections through the edge, up to
  CAPACITY (bench/run.py's capacity approach).
- The rolling restart under CLIENTS clients at 1 message/s (bench/run.py's under_load).
- Handshakes per second: HANDSHAKERS concurrent clients on the controller (one source address),
  each opening a wss connection after another for HANDSHAKE_SECONDS, each closed once open.
  Once at the defaults (per-address limit: 100/s averaged, with a burst; 429 beyond), once with
  the limits off on every host (wsfleet_router_limit_handshake_rate=0, which both routers
  read), with the router's CPU time on the edge.

With --switch-back the edge goes back to NGINX at the end (the switch timed too). Writes
OUT/routers.json and OUT/routers.md. Load goes only to the fleet's own hosts. Timings are
measurements, never assertions.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from bench import report as results_report
from bench import run
from bench.report import (
    NOT_MEASURED,
    balance,
    closes_per_client,
    fmt,
    is_number,
    section,
)
from wsfleet_support import benchmark, ssh
from wsfleet_support.markdown import render as render_template
from wsfleet_support.wsload import (
    HANDSHAKE_ERRORS,
    LoadConfig,
    connect_options,
    describe_handshake_failure,
)

ROUTERS = {"nginx": "NGINX", "haproxy": "HAProxy"}
# The name (comm) of every process of each router: NGINX's master and workers, HAProxy's
# master and worker.
ROUTER_PROCESS = {"nginx": "nginx", "haproxy": "haproxy"}
TEMPLATES = Path(__file__).resolve().parent / "templates"
REPORT_NAME = "routers.md"
RESULTS_NAME = "routers.json"
MEMORY_CONNECTIONS = 2000
# Long enough for both limiters to answer 429 to a path that accepts ~200/s here: NGINX's
# bucket after its burst, HAProxy's count once it passes the limit within 10 s.
HANDSHAKE_SECONDS = 30.0
HANDSHAKERS = 32
LATENCY_SAMPLES = 2000
# As JSON, so that the roles' argument specs get a number.
LIMITS_OFF = json.dumps({"wsfleet_router_limit_handshake_rate": 0})
# The router role's defaults (wsfleet_router_limit_handshake_rate and _burst), for the report.
DEFAULT_RATE = 100
DEFAULT_BURST = 1000
ACCEPTED = "accepted"
REFUSED = "http 429"
# A handshaker that meets a broken path waits this long, so that it does not spin.
FAILURE_PAUSE_SECONDS = 0.05
# Memory is read this long after the connections are open (or the router started).
SETTLE_SECONDS = 5
ANSWER_TIMEOUT_SECONDS = 60
SCALE_CONNECTIONS = 10_000


# --- the edge's router --------------------------------------------------------------------


def router_inventory(router: str) -> str:
    """An inventory (YAML; JSON is YAML) that sets the router of the group edge."""
    return json.dumps({"all": {"children": {"edge": {"vars": {"wsfleet_router": router}}}}})


def router_args(router: str, folder: Path) -> list[str]:
    """ansible-playbook arguments layering the router's inventory over the bench one."""
    path = folder / f"edge-{router}.yml"
    path.write_text(router_inventory(router) + "\n")
    return ["-i", str(path)]


def site(router: str, folder: Path, *args: str) -> float:
    """site.yml with this router at the edge; its wall time."""
    wall, _ = run.playbook("site.yml", *router_args(router, folder), *args)
    return wall


def switch_edge(router: str, folder: Path, *args: str) -> float:
    """Only the edge host changes router (the role removes the other one first)."""
    run.say(f"switch the edge to {ROUTERS[router]}")
    wall = site(router, folder, "--limit", edge()["name"], *args)
    wait_answering()
    return wall


def edge() -> dict:
    return run.hosts_of("edge")[0]


def restart_router(router: str) -> None:
    """A fresh router: the memory of earlier connections stays in a process that held them."""
    ssh.run(run.BENCH_FLEET, edge()["address"], "systemctl", "restart", f"{router}.service")
    wait_answering()


def wait_answering(timeout: float = ANSWER_TIMEOUT_SECONDS) -> None:
    """Until one echo through the edge succeeds (HAProxy's checks must find the servers)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            run.edge_round_trips(1)
            return
        except (OSError, InvalidHandshake, ConnectionClosed) as error:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the edge did not answer within {timeout:g} s") from error
            time.sleep(0.5)


def router_rss_kib(router: str) -> int:
    return run.host_rss_kib(edge()["address"], "-x", ROUTER_PROCESS[router])


def cpu_ticks(stat_lines: str) -> int:
    """User plus system clock ticks of the processes whose /proc/PID/stat lines these are."""
    total = 0
    for line in stat_lines.splitlines():
        # The command name, in parentheses, may hold spaces: count fields after its end.
        fields = line.rpartition(")")[2].split()
        if len(fields) > 12:
            total += int(fields[11]) + int(fields[12])
    return total


def router_cpu_seconds(router: str) -> float:
    # A process gone between pgrep and cat is no error.
    processes = f"$(pgrep -x {ROUTER_PROCESS[router]})"
    script = f"for p in {processes}; do cat /proc/$p/stat 2>/dev/null; done; true"
    out = ssh.shell(run.BENCH_FLEET, edge()["address"], script)
    # Containers share the controller's kernel, and with it the tick length.
    return cpu_ticks(out) / os.sysconf("SC_CLK_TCK")


# --- memory per idle connection -----------------------------------------------------------


def per_connection_kib(before: Any, after: Any, held: Any) -> float | None:
    """The router's growth per held connection; None when nothing was held or measured."""
    if not (is_number(before) and is_number(after) and is_number(held)) or held <= 0:
        return None
    return (after - before) / held


def edge_memory(router: str, connections: int) -> dict:
    run.say(f"{ROUTERS[router]}: memory at the edge, {connections} idle connections")
    restart_router(router)
    time.sleep(SETTLE_SECONDS)
    before = router_rss_kib(router)
    runner, error = run.hold_idle(connections, None)
    time.sleep(SETTLE_SECONDS)
    after = router_rss_kib(router)
    held = runner.snapshot().open_connections
    runner.stop()
    return {
        "target": connections,
        "connections": held,
        "first_error": error,
        "rss_before_kib": before,
        "rss_after_kib": after,
        "per_connection_kib": per_connection_kib(before, after, held),
    }


# --- handshakes per second ----------------------------------------------------------------


async def one_handshake(url: str, options: dict, closing: set[asyncio.Task]) -> str:
    try:
        websocket = await connect(url, **options)
    except HANDSHAKE_ERRORS as error:
        return describe_handshake_failure(error)
    # Closed in the background: the handshaker goes on to its next handshake at once.
    task = asyncio.create_task(websocket.close())
    closing.add(task)
    task.add_done_callback(closing.discard)
    return ACCEPTED


async def handshake_burst(config: LoadConfig, seconds: float) -> list[list]:
    """config.clients handshakers for seconds: [seconds since the start, outcome] per attempt."""
    loop = asyncio.get_running_loop()
    options = connect_options(config)
    started = loop.time()
    samples: list[list] = []
    closing: set[asyncio.Task] = set()

    async def handshaker() -> None:
        while loop.time() < started + seconds:
            outcome = await one_handshake(config.url, options, closing)
            samples.append([round(loop.time() - started, 4), outcome])
            if outcome not in (ACCEPTED, REFUSED):
                await asyncio.sleep(FAILURE_PAUSE_SECONDS)

    await asyncio.gather(*(handshaker() for _ in range(config.clients)))
    await asyncio.gather(*closing, return_exceptions=True)
    return samples


def handshake_figures(samples: list[list], seconds: float) -> dict:
    """Accepted per second, overall and in the second half, 429s and other failures, from the
    attempts that ended within the run (those still in flight at its end are left out)."""
    within = [(at, outcome) for at, outcome in samples if at <= seconds]
    outcomes = Counter(outcome for _, outcome in within)
    each_second = [0] * max(1, math.ceil(seconds))
    for at, outcome in within:
        if outcome == ACCEPTED:
            each_second[min(int(at), len(each_second) - 1)] += 1
    second_half = each_second[len(each_second) // 2 :]
    accepted = outcomes.pop(ACCEPTED, 0)
    return {
        "seconds": seconds,
        "attempts": len(within),
        "accepted": accepted,
        "accepted_per_second": accepted / seconds,
        "second_half_per_second": sum(second_half) / len(second_half),
        "refused_429": outcomes.pop(REFUSED, 0),
        "other_failures": dict(outcomes.most_common()),
        "accepted_each_second": each_second,
    }


def cpu_ms_per_attempt(cpu_seconds: float, attempts: int) -> float | None:
    """Every attempt, accepted or answered 429, costs the edge a TLS handshake."""
    return cpu_seconds * 1000 / attempts if attempts else None


def handshakes(router: str, label: str, seconds: float, handshakers: int) -> dict:
    run.say(f"{ROUTERS[router]}: handshakes, {label}, {handshakers} handshakers for {seconds:g} s")
    config = run.edge_load(handshakers, 0.0)
    cpu_before, client_before = router_cpu_seconds(router), time.process_time()
    samples = asyncio.run(handshake_burst(config, seconds))
    cpu = router_cpu_seconds(router) - cpu_before
    figures = handshake_figures(samples, seconds)
    return {
        **figures,
        "handshakers": handshakers,
        "router_cpu_seconds": cpu,
        "router_cpu_ms_per_attempt": cpu_ms_per_attempt(cpu, figures["attempts"]),
        # Near the run's length: the controller's one event loop was the limit.
        "client_cpu_seconds": time.process_time() - client_before,
    }


# --- one router, measured -----------------------------------------------------------------


def measure_router(
    router: str, args: argparse.Namespace, record: dict, save: Callable[[], None]
) -> None:
    """Every measurement at the defaults, each saved as it ends; the flood last, since the
    handshake limiter remembers it for a while."""
    steps: tuple[tuple[str, Callable[[], dict]], ...] = (
        ("memory", lambda: edge_memory(router, min(args.capacity, MEMORY_CONNECTIONS))),
        ("latency", lambda: edge_latency(router, args.latency_samples)),
        ("capacity", lambda: edge_capacity(router, args.capacity)),
        ("rolling_restart_under_load", lambda: restart_under_load(router, args.clients)),
        (
            "handshakes_defaults",
            lambda: handshakes(router, "defaults", args.handshake_seconds, args.handshakers),
        ),
    )
    for key, step in steps:
        record[key] = step()
        save()


def edge_latency(router: str, count: int) -> dict:
    run.say(f"{ROUTERS[router]}: latency, {count} echo round trips through the edge")
    return run.latency_summary(run.edge_round_trips(count))


def edge_capacity(router: str, target: int) -> dict:
    run.say(f"{ROUTERS[router]}: up to {target} idle connections through the edge")
    return {"target": target, **run.edge_capacity(target)}


def restart_under_load(router: str, clients: int) -> dict:
    # The rollout touches only the app hosts, whose router the layered inventory leaves alone.
    return run.under_load(f"{ROUTERS[router]} edge: rolling restart", clients, run.rolling_restart)


def measure(results: dict, args: argparse.Namespace, save: Callable[[], None]) -> None:
    """NGINX at the edge at the defaults, both without limits, then HAProxy at the defaults:
    three site.yml runs besides the first, one of them the switch of the edge alone."""
    routers, playbooks = results["routers"], results["playbooks"]
    folder = Path(tempfile.mkdtemp(prefix="wsfleet-bench-routers-"))
    try:
        run.say(f"fleet {run.FLEET}")
        run.fleet_up(fresh=True)
        run.say("site.yml with NGINX at the edge")
        playbooks["converge_nginx_seconds"] = site("nginx", folder)
        measure_router("nginx", args, routers["nginx"], save)
        run.say("limits off on every host (the app hosts' NGINX limits per address too)")
        playbooks["limits_off_seconds"] = site("nginx", folder, "-e", LIMITS_OFF)
        routers["nginx"]["handshakes_limits_off"] = raw_handshakes("nginx", args)
        save()
        playbooks["switch_to_haproxy_seconds"] = switch_edge("haproxy", folder, "-e", LIMITS_OFF)
        routers["haproxy"]["handshakes_limits_off"] = raw_handshakes("haproxy", args)
        save()
        run.say("the defaults back on every host")
        playbooks["limits_back_seconds"] = site("haproxy", folder)
        measure_router("haproxy", args, routers["haproxy"], save)
        if args.switch_back:
            playbooks["switch_back_to_nginx_seconds"] = switch_edge("nginx", folder)
            save()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def raw_handshakes(router: str, args: argparse.Namespace) -> dict:
    return handshakes(router, "limits off", args.handshake_seconds, args.handshakers)


# --- figures and the report ---------------------------------------------------------------


def router_figures(measured: Mapping[str, Any]) -> dict[str, Any]:
    """The figures the report compares, from one router's measurements; None when missing."""
    latency, memory = section(measured, "latency"), section(measured, "memory")
    capacity = section(measured, "capacity")
    restart = section(measured, "rolling_restart_under_load")
    load = section(restart, "load")
    defaults = section(measured, "handshakes_defaults")
    raw = section(measured, "handshakes_limits_off")
    return {
        "latency_p50_ms": latency.get("p50"),
        "latency_p90_ms": latency.get("p90"),
        "latency_p99_ms": latency.get("p99"),
        "memory_connections": memory.get("connections"),
        "rss_before_kib": memory.get("rss_before_kib"),
        "rss_after_kib": memory.get("rss_after_kib"),
        "memory_per_connection_kib": memory.get("per_connection_kib"),
        "capacity_target": capacity.get("target"),
        "held": capacity.get("held"),
        "capacity_first_error": (capacity.get("first_error") or "none") if capacity else None,
        "defaults_accepted_per_second": defaults.get("accepted_per_second"),
        "defaults_second_half_per_second": defaults.get("second_half_per_second"),
        "defaults_refused_429": defaults.get("refused_429"),
        "defaults_other_failures": failure_total(defaults),
        "raw_accepted_per_second": raw.get("accepted_per_second"),
        "raw_failures": failure_total(raw, with_429=True),
        "raw_cpu_ms_per_handshake": raw.get("router_cpu_ms_per_attempt"),
        "raw_client_cpu_percent": share_percent(raw.get("client_cpu_seconds"), raw.get("seconds")),
        "restart_clients": restart.get("clients"),
        "restart_handshakes_failed": load.get("handshakes_failed"),
        "restart_abnormal_closures": load.get("abnormal_closures"),
        "restart_messages_lost": load.get("messages_lost"),
        "restart_closes_per_client": closes_per_client(restart) if restart else None,
        "restart_balance_after": balance(restart.get("balance_after")) if restart else None,
    }


def share_percent(cpu_seconds: Any, seconds: Any) -> float | None:
    """CPU seconds over wall seconds, as a percentage of one core."""
    if is_number(cpu_seconds) and is_number(seconds) and seconds > 0:
        return cpu_seconds / seconds * 100
    return None


def failure_total(handshake: Mapping[str, Any], *, with_429: bool = False) -> int | None:
    other = handshake.get("other_failures")
    if not isinstance(other, Mapping):
        return None
    refused = handshake.get("refused_429", 0) if with_429 else 0
    return sum(count for count in other.values() if is_number(count)) + refused


def results_figures(results: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {router: router_figures(section(results, "routers", router)) for router in ROUTERS}


def cell(value: Any, digits: int | None) -> str:
    if isinstance(value, str):
        return value
    return fmt(value, digits or 0) if is_number(value) else NOT_MEASURED


def values_of(figures: Mapping[str, Mapping[str, Any]], key: str) -> dict[str, Any]:
    return {router: figures[router].get(key) for router in ROUTERS}


def comparison(
    subject: str, values: Mapping[str, Any], unit: str, digits: int, *, better: str = "lower"
) -> str:
    """Which router had the better of a measured figure, and by how much."""
    missing = [ROUTERS[router] for router, value in values.items() if not is_number(value)]
    if missing:
        return f"{subject[0].upper()}{subject[1:]}: {' and '.join(missing)} {NOT_MEASURED}."
    (first, a), (second, b) = values.items()
    if fmt(a, digits) == fmt(b, digits):
        both = f"{ROUTERS[first]} and {ROUTERS[second]}"
        return f"{both} had the same {subject}: {fmt(a, digits, unit)}."
    pick = min if better == "lower" else max
    best = pick(values, key=lambda router: values[router])
    other = second if best == first else first
    # Relative to the other router's figure: "20% lower" than it, "25% higher" than it.
    change = abs(values[best] - values[other]) / values[other] if values[other] > 0 else None
    by = f" ({percent(change)} {better})" if change is not None else ""
    return (
        f"{ROUTERS[best]} had the {better} {subject}: {fmt(values[best], digits, unit)} "
        f"against {fmt(values[other], digits, unit)} for {ROUTERS[other]}{by}."
    )


def percent(fraction: float) -> str:
    return f"{fraction:.0%}" if fraction >= 0.005 else "under 1%"


def latency_sentences(figures: Mapping[str, Mapping[str, Any]]) -> list[str]:
    p99, p50 = values_of(figures, "latency_p99_ms"), values_of(figures, "latency_p50_ms")
    return [
        comparison("p99 echo round trip through the edge", p99, "ms", 2),
        comparison("median (p50)", p50, "ms", 2),
    ]


def memory_sentences(figures: Mapping[str, Mapping[str, Any]]) -> list[str]:
    per_connection = values_of(figures, "memory_per_connection_kib")
    sentences = [comparison("memory per idle connection at the edge", per_connection, "KiB", 1)]
    if all(is_number(value) for value in per_connection.values()):
        scaled = [
            f"{fmt(value * SCALE_CONNECTIONS / 1024, 0, 'MiB')} for {ROUTERS[router]}"
            for router, value in per_connection.items()
        ]
        sentences.append(
            f"At that rate, {fmt(SCALE_CONNECTIONS)} idle connections take about "
            + " and ".join(scaled)
            + "."
        )
    return sentences


def capacity_sentence(figures: Mapping[str, Mapping[str, Any]]) -> str:
    held, targets = values_of(figures, "held"), values_of(figures, "capacity_target")
    missing = [ROUTERS[r] for r in ROUTERS if not (is_number(held[r]) and is_number(targets[r]))]
    if missing:
        return f"Connections held at the defaults: {' and '.join(missing)} {NOT_MEASURED}."
    if all(held[router] >= targets[router] for router in ROUTERS):
        return f"Both held all {fmt(targets['nginx'])} idle connections with the defaults."
    parts = [
        f"{ROUTERS[router]} held {fmt(held[router])} of {fmt(targets[router])} "
        f"(first error: {figures[router].get('capacity_first_error')})"
        for router in ROUTERS
    ]
    return "With the defaults, " + "; ".join(parts) + "."


def handshake_sentences(
    figures: Mapping[str, Mapping[str, Any]], settings: Mapping[str, Any], cpus: Any
) -> list[str]:
    raw = comparison(
        "handshake rate with the limits off",
        values_of(figures, "raw_accepted_per_second"),
        "handshakes/s",
        0,
        better="higher",
    )
    cpu = comparison(
        "router CPU time per handshake at the edge",
        values_of(figures, "raw_cpu_ms_per_handshake"),
        "ms",
        2,
    )
    client = values_of(figures, "raw_client_cpu_percent")
    shared = (
        "The handshakers' one event loop on the controller used "
        + " and ".join(f"{percent_of_core(client[r])} ({ROUTERS[r]})" for r in ROUTERS)
        + f"; the client, the edge and the app hosts share this machine's {cpus} cores, so those "
        "rates are the whole path's here, not the edge's ceiling; the CPU time is the edge's own."
    )
    return [raw, cpu, shared, defaults_sentence(figures, settings), limiter_sentence()]


def percent_of_core(value: Any) -> str:
    return f"{fmt(value, 0)}% of a core" if is_number(value) else NOT_MEASURED


def defaults_sentence(figures: Mapping[str, Mapping[str, Any]], settings: Mapping[str, Any]) -> str:
    parts = []
    for router in ROUTERS:
        measured = figures[router]
        if not is_number(measured.get("defaults_accepted_per_second")):
            parts.append(f"{ROUTERS[router]} {NOT_MEASURED}")
            continue
        parts.append(
            f"{ROUTERS[router]} accepted {fmt(measured['defaults_accepted_per_second'], 0)}/s "
            f"({fmt(measured.get('defaults_second_half_per_second'), 0)}/s in the second half) "
            f"and answered 429 to {fmt(measured.get('defaults_refused_429'))}"
        )
    return (
        f"At the defaults, {fmt(settings.get('handshakers'))} handshakers from one address for "
        f"{fmt(settings.get('handshake_seconds'), 0)} s: " + "; ".join(parts) + "."
    )


def limiter_sentence() -> str:
    # How each role configures the limit (its templates), not a measurement.
    window = DEFAULT_RATE * 10 + DEFAULT_BURST
    return (
        f"NGINX limits an address with a bucket ({DEFAULT_RATE}/s, a burst of "
        f"{fmt(DEFAULT_BURST)} let through at once); HAProxy counts an address's requests over "
        f"the last 10 s and answers 429 above {DEFAULT_RATE} x 10 + {fmt(DEFAULT_BURST)} = "
        f"{fmt(window)}: without a 429, an address can keep up {DEFAULT_RATE}/s through NGINX "
        f"and {fmt(window / 10, 0)}/s through HAProxy."
    )


RESTART_COUNTS = (
    ("restart_handshakes_failed", "failed handshakes"),
    ("restart_abnormal_closures", "abnormal closures"),
    ("restart_messages_lost", "lost messages"),
)


def restart_sentences(figures: Mapping[str, Mapping[str, Any]]) -> list[str]:
    clients = figures["nginx"].get("restart_clients") or figures["haproxy"].get("restart_clients")
    if not is_number(clients):
        return [f"The rolling restart under load: {NOT_MEASURED}."]
    counts = []
    for key, label in RESTART_COUNTS:
        values = values_of(figures, key)
        if len(set(values.values())) == 1:
            counts.append(f"{label}: {cell(values['nginx'], None)} for both")
        else:
            counts.append(
                f"{label}: " + ", ".join(f"{cell(values[r], None)} ({ROUTERS[r]})" for r in ROUTERS)
            )
    closes = values_of(figures, "restart_closes_per_client")
    balances = values_of(figures, "restart_balance_after")
    spread = ", ".join(
        f"{ROUTERS[r]} {cell(closes[r], 3)} closes per client and {cell(balances[r], 3)} balance"
        for r in ROUTERS
    )
    return [
        f"Under the rolling restart with {fmt(clients)} clients, " + "; ".join(counts) + ".",
        f"After it: {spread} (max over mean open connections per process).",
    ]


FIXED_FACTS = (
    "HAProxy checks every app host's `/healthz` every 2 s and sends no new connection to one "
    "that failed twice (its open WebSockets stay); NGINX (open source) has no active health "
    "checks: it retries each handshake past a refusing server, and keeps trying a vanished one "
    "first, each time waiting out the connect timeout.",
    "HAProxy drains, readies or puts in maintenance a server through its runtime API, with no "
    "reload (`playbooks/maintenance.yml`); NGINX drains an app host with a file its "
    "configuration checks on every request.",
    "Changing a live edge's router closes its open WebSockets: drain it first or switch in a "
    "maintenance window.",
)


def measured_sentences(
    results: Mapping[str, Any], figures: Mapping[str, Mapping[str, Any]]
) -> list[str]:
    """What this run's figures say about choosing one router or the other."""
    settings = section(results, "settings")
    cpus = section(results, "machine").get("cpus", NOT_MEASURED)
    return [
        *latency_sentences(figures),
        *memory_sentences(figures),
        capacity_sentence(figures),
        *handshake_sentences(figures, settings, cpus),
        *restart_sentences(figures),
    ]


PLAYBOOK_ROWS = (
    ("converge_nginx_seconds", "site.yml, NGINX at the edge (first converge)"),
    ("limits_off_seconds", "site.yml, limits off on every host"),
    ("switch_to_haproxy_seconds", "site.yml --limit edge: NGINX to HAProxy (limits off)"),
    ("limits_back_seconds", "site.yml, the defaults back on every host"),
    ("switch_back_to_nginx_seconds", "site.yml --limit edge: HAProxy back to NGINX"),
)


def render(results: Mapping[str, Any]) -> str:
    figures = results_figures(results)
    playbooks = section(results, "playbooks")

    def row(label: str, key: str, digits: int | None = None) -> tuple[str, ...]:
        return (label, *(cell(figures[router].get(key), digits) for router in ROUTERS))

    # The template reads the router names and the fixed facts from this module, and formats
    # figures with bench.report's fmt().
    return render_template(
        TEMPLATES,
        REPORT_NAME + ".j2",
        bench=sys.modules[__name__],
        report=results_report,
        results=results,
        measured=measured_sentences(results, figures),
        playbook_rows=[(label, fmt(playbooks.get(key), 1, "s")) for key, label in PLAYBOOK_ROWS],
        row=row,
    )


def write_outputs(results: dict, out: Path) -> None:
    benchmark.save_outputs(out, results, (RESULTS_NAME, REPORT_NAME), results_figures, render)


# --- main ---------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = benchmark.parser(__doc__)
    parser.add_argument("--capacity", type=int, default=8000)
    parser.add_argument("--handshake-seconds", type=float, default=HANDSHAKE_SECONDS)
    parser.add_argument("--handshakers", type=int, default=HANDSHAKERS)
    parser.add_argument("--latency-samples", type=int, default=LATENCY_SAMPLES)
    parser.add_argument(
        "--switch-back", action="store_true", help="last, put NGINX back at the edge (timed)"
    )
    return parser.parse_args(argv)


def new_results(args: argparse.Namespace, argv: list[str]) -> dict:
    fleet = {
        "app_hosts": run.APP_HOSTS,
        "processes_per_host": os.cpu_count(),
        "edge_hosts": 1,
        "app_host_router": "nginx",
    }
    settings = {
        "clients": args.clients,
        "capacity": args.capacity,
        "memory_connections": min(args.capacity, MEMORY_CONNECTIONS),
        "handshake_seconds": args.handshake_seconds,
        "handshakers": args.handshakers,
        "latency_samples": args.latency_samples,
    }
    routers = {router: {} for router in ROUTERS}
    return benchmark.new_results(
        "bench.routers", argv, fleet=fleet, settings=settings, playbooks={}, routers=routers
    )


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    out = benchmark.output_folder(args.out)
    results = new_results(args, argv)
    run.measure_on_fleet(results, args, measure, write_outputs, out / REPORT_NAME)
    print(summary(render(results)), flush=True)
    return 0


def summary(report: str) -> str:
    """The comparison table of a report, for the terminal."""
    return report.split("\n\n## ", 1)[0].split("\n\n", 1)[-1].split("\n\n", 1)[-1]


if __name__ == "__main__":
    sys.exit(main())
