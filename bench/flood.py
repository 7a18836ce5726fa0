"""A flood past the fleet's capacity: every process capped, established clients talking, and a
flood of new handshakes that fills what is left and goes on being refused.

    .venv/bin/python -m bench.flood [--out docs/benchmarks] [--clients 300] [--cap 100]
                                    [--flooders 64] [--seconds 20] [--pauses 0.1 5]
                                    [--reuse-fleet] [--keep-fleet]

bench/run.py's fleet (3 app hosts x 2 processes, 2 edges, NGINX on the app hosts). For each
router at the edge (NGINX, then HAProxy): site.yml with every process capped at CAP connections
(wsfleet_app_max_connections; the fleet takes 3 x 2 x CAP) and the per-address handshake limits
off (the flood comes from one address here, which they would refuse first). CLIENTS established
clients at 1 message per second through the first floating address. For each of PAUSES: their
round trips measured for SECONDS, then for SECONDS while FLOODERS clients in a process of their
own open handshakes one after another: one accepted is held open (it fills the fleet), one
refused is timed and tried again after the pause to twice it, at random (0.1 s: a flood that
ignores Retry-After; 5 s: clients that honour the example app's, with jitter). The flood's
accepted connections close after it. The established clients' round trips during the flood are
read over all of it, and from the moment the fleet was full (the flood's first 503) to its end:
the refusals alone, without the fill's burst of handshakes the fleet had room for.

What it reads: the flood's handshakes by outcome and how long a refusal took, the Retry-After
the refusals carried, the connections the fleet took in all against its capacity, and the
established clients' p50/p99 before and during, their lost messages and closures. Writes
OUT/flood.json and OUT/flood.md. Load goes only to the fleet's own hosts. Timings are
measurements, never assertions.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import random
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Mapping
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from bench import routers, run
from bench.report import fmt, fmt_counter, fmt_ms_from_seconds, render_report, section
from wsfleet_support import benchmark, stats
from wsfleet_support.wsload import (
    HANDSHAKE_ERRORS,
    LoadConfig,
    LoadRunner,
    connect_options,
    describe_handshake_failure,
)

REPORT_NAME = "flood.md"
RESULTS_NAME = "flood.json"
ROUTERS = ("nginx", "haproxy")
CLIENTS = 300
CAP = 100
FLOODERS = 64
SECONDS = 20.0
# A flood that ignores Retry-After, then clients that honour the example app's 5 s.
PAUSES_SECONDS = (0.1, 5.0)
RATE = 1.0
MARK_INTERVAL_SECONDS = 0.25
ACCEPTED = "accepted"
REFUSED_FULL = "http 503"
# The issue's targets: refusals within 100 ms at the median, the established clients' p99 within
# twice what it was before the flood.
REFUSAL_MEDIAN_TARGET_SECONDS = 0.1
P99_RATIO_TARGET = 2.0


# --- the flood, in a process of its own -----------------------------------------------------


async def flood(config: LoadConfig, seconds: float, pause: float) -> dict:
    """config.clients flooders for seconds: every handshake timed; those accepted held open
    until the end, those refused tried again after pause."""
    loop = asyncio.get_running_loop()
    options = connect_options(config)
    started, cpu_before = loop.time(), time.process_time()
    full_at: list[float] = []
    held = []
    outcomes: Counter[str] = Counter()
    refusal_seconds: list[float] = []
    retry_after: Counter[str] = Counter()

    async def flooder() -> None:
        while loop.time() < started + seconds:
            began = loop.time()
            try:
                held.append(await connect(config.url, **options))
                outcomes[ACCEPTED] += 1
                continue
            except HANDSHAKE_ERRORS as error:
                outcome = describe_handshake_failure(error)
                if isinstance(error, InvalidStatus):
                    retry_after[str(error.response.headers.get("Retry-After"))] += 1
            outcomes[outcome] += 1
            if outcome == REFUSED_FULL:
                refusal_seconds.append(loop.time() - began)
                full_at.append(time.time())
            await asyncio.sleep(pause * (1 + random.random()))

    await asyncio.gather(*(flooder() for _ in range(config.clients)))
    cpu_seconds = time.process_time() - cpu_before
    held_at_end = len(held)
    await asyncio.gather(*(websocket.close() for websocket in held), return_exceptions=True)
    return {
        "flooders": config.clients,
        "seconds": seconds,
        "pause": pause,
        # The flood's own process: a generator at a full core measures itself, not the fleet.
        "cpu_seconds": round(cpu_seconds, 2),
        # Wall clock, which the established clients' process shares.
        "full_at_epoch": min(full_at) if full_at else None,
        "outcomes": dict(outcomes.most_common()),
        "held_at_end": held_at_end,
        "refusal_seconds": stats.percentiles(refusal_seconds, (50, 90, 99)),
        "retry_after": dict(retry_after.most_common()),
    }


def flood_in_a_process(config: LoadConfig, seconds: float, pause: float) -> dict:
    """The flood's own event loop, so that it does not slow the established clients' one."""
    return asyncio.run(flood(config, seconds, pause))


# --- one router, measured -----------------------------------------------------------------


def cap_vars(cap: int) -> str:
    """Every process capped, and the per-address limits off (JSON: the specs get numbers)."""
    return json.dumps(
        {"wsfleet_app_max_connections": cap, "wsfleet_router_limit_handshake_rate": 0}
    )


def fleet_capacity(cap: int) -> int:
    return cap * run.APP_HOSTS * processes_per_host()


def processes_per_host() -> int:
    # The app role runs one process per CPU by default, and the hosts see the machine's.
    return os.cpu_count() or 1


def mark_after(marks: list[tuple[float, int]], moment: float | None) -> int:
    """The first mark taken at or after moment (the last one if none was)."""
    if moment is None:
        return marks[-1][1]
    return next((mark for at, mark in marks if at >= moment), marks[-1][1])


def one_flood(established: LoadRunner, args: argparse.Namespace, pause: float) -> dict:
    """The established clients' round trips for a while, then during a flood."""
    mark = established.latency_mark()
    time.sleep(args.seconds)
    before = established.latency_since(mark)
    mark, cpu_before = established.latency_mark(), time.process_time()
    # (wall clock, mark) every quarter second: where the refusals alone began, once known.
    marks = []
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(1, mp_context=spawn) as pool:
        flooders = run.edge_load(args.flooders, 0.0, ramp_up=0.0)
        flooding = pool.submit(flood_in_a_process, flooders, args.seconds, pause)
        while not flooding.done():
            marks.append((time.time(), established.latency_mark()))
            time.sleep(MARK_INTERVAL_SECONDS)
        flooded = flooding.result()
    once_full = mark_after(marks, flooded["full_at_epoch"])
    return {
        "flood": flooded,
        "latency_before": before,
        "latency_during": established.latency_since(mark),
        "latency_once_full": established.latency_since(once_full),
        # This process holds the established clients (and little else meanwhile).
        "established_cpu_seconds": round(time.process_time() - cpu_before, 2),
    }


def flood_under_established_clients(router: str, args: argparse.Namespace) -> dict:
    run.say(
        f"{routers.ROUTERS[router]}: {args.clients} established clients, then {args.flooders} "
        f"flooders for {args.seconds:g} s against a fleet of {fleet_capacity(args.cap)}, "
        f"pausing {' then '.join(f'{pause:g} s' for pause in args.pauses)} after a refusal"
    )
    established = LoadRunner(run.edge_load(args.clients, RATE))
    established.start()
    established.wait_connected(timeout=args.clients / 40 + 120)
    time.sleep(run.SETTLE_SECONDS)
    floods = [one_flood(established, args, pause) for pause in args.pauses]
    load = established.stop().to_dict()
    return {
        "capacity": fleet_capacity(args.cap),
        "floods": floods,
        "established": {key: load[key] for key in ESTABLISHED_KEYS},
    }


ESTABLISHED_KEYS = (
    "clients",
    "clients_connected",
    "handshakes_failed",
    "server_closes",
    "abnormal_closures",
    "messages_sent",
    "messages_acknowledged",
    "messages_lost",
)


def measure(results: dict, args: argparse.Namespace, save: Callable[[], None]) -> None:
    folder = Path(tempfile.mkdtemp(prefix="wsfleet-bench-flood-"))
    try:
        run.fresh_fleet_unless_reused(args)
        for router in ROUTERS:
            run.say(f"site.yml: {routers.ROUTERS[router]} at the edge, every process capped")
            results["playbooks"][f"{router}_seconds"] = routers.site(
                router, folder, "-e", cap_vars(args.cap)
            )
            routers.wait_answering()
            results["routers"][router] = flood_under_established_clients(router, args)
            save()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# --- the report ---------------------------------------------------------------------------


def flood_figures(
    measured: Mapping[str, Any], one: Mapping[str, Any], seconds: Any
) -> dict[str, Any]:
    """One flood's row: what the fleet took and refused, and how the established fared."""
    flooded, established = section(one, "flood"), section(measured, "established")
    outcomes = section(flooded, "outcomes")
    before = section(one, "latency_before").get("p99")
    during = section(one, "latency_during").get("p99")
    once_full = section(one, "latency_once_full").get("p99")
    accepted = outcomes.get(ACCEPTED)
    refused = outcomes.get(REFUSED_FULL, 0) if outcomes else None
    return {
        "pause": flooded.get("pause"),
        "taken": None if accepted is None else accepted + established.get("clients_connected", 0),
        "capacity": measured.get("capacity"),
        "accepted": accepted,
        "refused_full": refused,
        "refused_per_second": refused / seconds if refused is not None and seconds else None,
        "flood_cpu_seconds": flooded.get("cpu_seconds"),
        "established_cpu_seconds": one.get("established_cpu_seconds"),
        "other_outcomes": {
            key: count for key, count in outcomes.items() if key not in (ACCEPTED, REFUSED_FULL)
        },
        "refusal_p50": section(flooded, "refusal_seconds").get("p50"),
        "refusal_p99": section(flooded, "refusal_seconds").get("p99"),
        "retry_after": flooded.get("retry_after"),
        "p50_before": section(one, "latency_before").get("p50"),
        "p50_during": section(one, "latency_during").get("p50"),
        "p99_before": before,
        "p99_during": during,
        "p99_ratio": during / before if before and during is not None else None,
        "p99_once_full": once_full,
        "p99_once_full_ratio": once_full / before if before and once_full is not None else None,
        "lost": established.get("messages_lost"),
        "abnormal": established.get("abnormal_closures"),
        "established_failed_handshakes": established.get("handshakes_failed"),
    }


def router_figures(measured: Mapping[str, Any], seconds: Any) -> list[dict[str, Any]]:
    return [flood_figures(measured, one, seconds) for one in measured.get("floods", [])]


def results_figures(results: Mapping[str, Any]) -> dict[str, list[dict[str, Any]]]:
    seconds = section(results, "settings").get("seconds")
    return {
        router: router_figures(measured, seconds)
        for router, measured in section(results, "routers").items()
        if measured
    }


def ms(seconds: Any) -> str:
    return fmt_ms_from_seconds(seconds)


def cpu(seconds: Any) -> str:
    return fmt(seconds, 1, "s")


def rows(figures: Mapping[str, list[Mapping[str, Any]]]) -> list[list[str]]:
    return [
        [
            routers.ROUTERS[router],
            fmt(row["pause"], 1, "s"),
            f"{fmt(row['taken'])} of {fmt(row['capacity'])}",
            f"{fmt(row['refused_full'])} ({fmt(row['refused_per_second'], 0)}/s)"
            + (f"; other: {fmt_counter(row['other_outcomes'])}" if row["other_outcomes"] else ""),
            f"{ms(row['refusal_p50'])} / {ms(row['refusal_p99'])}",
            fmt_counter(row["retry_after"]),
            f"{ms(row['p99_before'])} → {ms(row['p99_during'])} ({fmt(row['p99_ratio'], 2)} x)",
            f"{ms(row['p99_once_full'])} ({fmt(row['p99_once_full_ratio'], 2)} x)",
            f"{cpu(row['flood_cpu_seconds'])} / {cpu(row['established_cpu_seconds'])}",
        ]
        for router, flood_rows in figures.items()
        for row in flood_rows
    ]


def render(results: Mapping[str, Any]) -> str:
    return render_report(__name__, results, figures=results_figures(results), ms=ms)


def write_outputs(results: dict, out: Path) -> None:
    benchmark.save_outputs(out, results, (RESULTS_NAME, REPORT_NAME), results_figures, render)


# --- main ---------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = benchmark.parser(__doc__, reuse_fleet=True)
    parser.set_defaults(clients=CLIENTS)
    parser.add_argument("--cap", type=int, default=CAP)
    parser.add_argument("--flooders", type=int, default=FLOODERS)
    parser.add_argument("--seconds", type=float, default=SECONDS)
    parser.add_argument("--pauses", type=float, nargs="+", default=list(PAUSES_SECONDS))
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    out = benchmark.output_folder(args.out)
    settings = {
        "clients": args.clients,
        "rate": RATE,
        "cap": args.cap,
        "processes_per_host": processes_per_host(),
        "app_hosts": run.APP_HOSTS,
        "flooders": args.flooders,
        "seconds": args.seconds,
        "pauses": args.pauses,
    }
    results = benchmark.new_results(
        "bench.flood", argv, settings=settings, playbooks={}, routers={}
    )
    run.measure_on_fleet(results, args, measure, write_outputs, out / REPORT_NAME)
    return 0


if __name__ == "__main__":
    sys.exit(main())
