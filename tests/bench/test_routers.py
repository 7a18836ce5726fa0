"""bench/routers.py without a fleet: the figures it computes from samples and measurements,
the handshake burst against local servers on loopback, and the report from fixed results.
Nothing here asserts how fast anything was."""

from __future__ import annotations

import asyncio
import json
import time
from http import HTTPStatus
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection, serve

from bench import routers
from wsfleet_support.wsload import LoadConfig

WAIT_TIMEOUT = 20.0

# -- memory and CPU ------------------------------------------------------------


def test_memory_per_connection_is_the_growth_over_the_held_connections() -> None:
    assert routers.per_connection_kib(10_000, 14_096, 2048) == 2.0
    # Noise can shrink a process: reported as measured, not hidden.
    assert routers.per_connection_kib(10_000, 9_000, 500) == -2.0


@pytest.mark.parametrize(
    ("before", "after", "held"), [(10_000, 12_000, 0), (None, 12_000, 100), (10_000, None, 100)]
)
def test_memory_per_connection_needs_connections_and_both_readings(
    before: Any, after: Any, held: Any
) -> None:
    assert routers.per_connection_kib(before, after, held) is None


def test_cpu_ticks_add_user_and_system_time_of_every_process() -> None:
    # Fields 14 and 15 are utime and stime; a command name may hold spaces and parentheses.
    tail = "S 1 1 1 0 -1 4194560 100 0 0 0 {utime} {stime} 0 0 20 0 1 0 100 1000 50"
    stat = "\n".join(
        [
            "812 (haproxy) " + tail.format(utime=120, stime=30),
            "813 (odd (name) here) " + tail.format(utime=5, stime=7),
            "",
        ]
    )
    assert routers.cpu_ticks(stat) == 162


def test_cpu_ticks_ignore_a_cut_line() -> None:
    assert routers.cpu_ticks("814 (nginx) S 1 1") == 0


def test_cpu_per_attempt_in_milliseconds() -> None:
    assert routers.cpu_ms_per_attempt(1.5, 3000) == 0.5
    assert routers.cpu_ms_per_attempt(1.5, 0) is None


# -- handshake rates -----------------------------------------------------------


def test_handshake_figures_from_samples() -> None:
    # 4 s: 30 accepted in each of the first two seconds, then 5 a second and 429s;
    # one refused connect, and one attempt still in flight at the end.
    samples = [[second + n / 30, routers.ACCEPTED] for second in (0, 1) for n in range(30)]
    samples += [[second + n / 5, routers.ACCEPTED] for second in (2, 3) for n in range(5)]
    samples += [[2.5, routers.REFUSED]] * 40 + [[3.1, "connection refused"]]
    samples += [[4.2, routers.ACCEPTED]]

    figures = routers.handshake_figures(samples, 4.0)

    assert figures["accepted_each_second"] == [30, 30, 5, 5]
    assert figures["accepted"] == 70
    assert figures["accepted_per_second"] == 17.5
    assert figures["second_half_per_second"] == 5.0
    assert figures["refused_429"] == 40
    assert figures["other_failures"] == {"connection refused": 1}
    assert figures["attempts"] == 70 + 40 + 1


def test_handshake_figures_of_a_run_shorter_than_a_second() -> None:
    figures = routers.handshake_figures([[0.1, routers.ACCEPTED], [0.4, routers.ACCEPTED]], 0.5)
    assert figures["accepted_each_second"] == [2]
    assert figures["accepted_per_second"] == 4.0
    assert figures["second_half_per_second"] == 2.0


def test_handshake_figures_without_any_attempt() -> None:
    figures = routers.handshake_figures([], 3.0)
    assert figures["accepted"] == figures["attempts"] == figures["refused_429"] == 0
    assert figures["other_failures"] == {}


def test_burst_opens_and_closes_connections_to_the_echo_app(start_server) -> None:
    server = start_server()
    config = LoadConfig(url=server.uri(), clients=4)

    samples = asyncio.run(routers.handshake_burst(config, 0.5))

    assert samples
    assert {outcome for _, outcome in samples} == {routers.ACCEPTED}
    # Every connection was closed (the server's bookkeeping may lag a little).
    deadline = time.monotonic() + WAIT_TIMEOUT
    while server.health()["connections"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.health()["connections"] == 0


async def refusing_burst(seconds: float) -> list[list]:
    async def too_many(connection: ServerConnection, request: Any) -> Any:
        return connection.respond(HTTPStatus.TOO_MANY_REQUESTS, "slow down\n")

    async def echo(websocket: ServerConnection) -> None:
        async for message in websocket:
            await websocket.send(message)

    async with serve(echo, "127.0.0.1", 0, process_request=too_many) as server:
        port = server.sockets[0].getsockname()[1]
        config = LoadConfig(url=f"ws://127.0.0.1:{port}/", clients=2)
        return await routers.handshake_burst(config, seconds)


def test_burst_counts_429_answers() -> None:
    samples = asyncio.run(refusing_burst(0.3))
    assert samples
    assert {outcome for _, outcome in samples} == {routers.REFUSED}


def test_burst_against_a_closed_port_pauses_between_failures(unused_tcp_port: int) -> None:
    config = LoadConfig(url=f"ws://127.0.0.1:{unused_tcp_port}/", clients=1)
    samples = asyncio.run(routers.handshake_burst(config, 0.3))
    assert {outcome for _, outcome in samples} == {"connection refused"}
    # The pause after each failure bounds the attempts (not a timing: an upper bound).
    assert len(samples) <= 0.3 / routers.FAILURE_PAUSE_SECONDS + 1


# -- the edge's inventory ------------------------------------------------------


@pytest.mark.parametrize("router", ["nginx", "haproxy"])
def test_router_inventory_sets_the_group_edge_only(router: str, tmp_path: Path) -> None:
    args = routers.router_args(router, tmp_path)
    assert args[0] == "-i"
    inventory = json.loads(Path(args[1]).read_text())
    assert inventory == {"all": {"children": {"edge": {"vars": {"wsfleet_router": router}}}}}


def test_limits_off_is_a_number_for_the_argument_specs() -> None:
    assert json.loads(routers.LIMITS_OFF) == {"wsfleet_router_limit_handshake_rate": 0}


# -- figures and sentences -----------------------------------------------------


def handshakes(accepted: float, second_half: float, refused: int, cpu: float) -> dict:
    return {
        "seconds": 20.0,
        "attempts": 4000,
        "accepted": int(accepted * 20),
        "accepted_per_second": accepted,
        "second_half_per_second": second_half,
        "refused_429": refused,
        "other_failures": {"timeout": 1} if refused else {},
        "router_cpu_ms_per_attempt": cpu,
        "client_cpu_seconds": 19.0,
    }


def measured(p99: float, per_connection: float, accepted: float, cpu: float) -> dict:
    return {
        "latency": {"p50": 0.5, "p90": 0.6, "p99": p99, "p999": 2.0, "max": 3.0, "samples": []},
        "memory": {
            "target": 2000,
            "connections": 2000,
            "first_error": None,
            "rss_before_kib": 8000,
            "rss_after_kib": 8000 + per_connection * 2000,
            "per_connection_kib": per_connection,
        },
        "capacity": {"target": 8000, "held": 8000, "first_error": None},
        "rolling_restart_under_load": {
            "clients": 2000,
            "wall_seconds": 31.0,
            "load": {
                "handshakes_failed": 0,
                "abnormal_closures": 0,
                "messages_lost": 0,
                "server_closes": {"1012": 2000, "1001": 2},
            },
            "balance_after": {"connections": {"app1/1a": 340, "app1/2a": 330, "app2/1b": 330}},
        },
        "handshakes_defaults": handshakes(150.0, 100.0, 3000, 0.4),
        "handshakes_limits_off": handshakes(accepted, accepted, 0, cpu),
    }


RESULTS = {
    "command": "python -m bench.routers --out docs/benchmarks",
    "started": "2025-01-02T03:04:05Z",
    "duration_seconds": 1234.5,
    "machine": {"cpus": 2, "memory_gib": 24, "os": "Debian GNU/Linux 12 (bookworm)"},
    "fleet": {"app_hosts": 3, "processes_per_host": 2, "edge_hosts": 1},
    "settings": {
        "clients": 2000,
        "capacity": 8000,
        "memory_connections": 2000,
        "handshake_seconds": 20.0,
        "handshakers": 32,
        "latency_samples": 2000,
    },
    "playbooks": {"converge_nginx_seconds": 130.2, "switch_to_haproxy_seconds": 41.0},
    "routers": {
        "nginx": measured(p99=0.80, per_connection=2.5, accepted=300.0, cpu=0.5),
        "haproxy": measured(p99=0.72, per_connection=8.0, accepted=360.0, cpu=0.4),
    },
}


def test_router_figures_from_the_measurements() -> None:
    figures = routers.router_figures(RESULTS["routers"]["nginx"])
    assert figures["latency_p99_ms"] == 0.80
    assert figures["memory_per_connection_kib"] == 2.5
    assert figures["held"] == 8000
    assert figures["capacity_first_error"] == "none"
    assert figures["defaults_refused_429"] == 3000
    assert figures["defaults_other_failures"] == 1
    assert figures["raw_failures"] == 0
    assert figures["raw_cpu_ms_per_handshake"] == 0.5
    assert figures["raw_client_cpu_percent"] == 95.0
    assert figures["restart_closes_per_client"] == pytest.approx(1.001)
    assert figures["restart_balance_after"] == pytest.approx(340 / 1000 * 3)


def test_router_figures_of_nothing_measured_are_missing() -> None:
    figures = routers.router_figures({})
    assert set(figures.values()) == {None}


def test_comparison_names_the_lower_and_by_how_much() -> None:
    text = routers.comparison("p99", {"nginx": 0.80, "haproxy": 0.72}, "ms", 2)
    assert text == "HAProxy had the lower p99: 0.72 ms against 0.80 ms for NGINX (10% lower)."


def test_comparison_names_the_higher_and_by_how_much() -> None:
    values = {"nginx": 300.0, "haproxy": 360.0}
    text = routers.comparison("rate", values, "handshakes/s", 0, better="higher")
    assert text == (
        "HAProxy had the higher rate: 360 handshakes/s against 300 handshakes/s for NGINX "
        "(20% higher)."
    )


def test_comparison_of_figures_equal_as_shown() -> None:
    text = routers.comparison("p50", {"nginx": 0.501, "haproxy": 0.499}, "ms", 2)
    assert text == "NGINX and HAProxy had the same p50: 0.50 ms."


def test_comparison_says_what_was_not_measured() -> None:
    text = routers.comparison("p50", {"nginx": 0.5, "haproxy": None}, "ms", 2)
    assert text == "P50: HAProxy not measured."


def test_comparison_of_a_tiny_difference() -> None:
    text = routers.comparison(
        "rate", {"nginx": 1000.0, "haproxy": 1002.0}, "/s", 0, better="higher"
    )
    assert text.endswith("(under 1% higher).")


# -- the report ----------------------------------------------------------------


def test_report_compares_both_routers_from_the_figures() -> None:
    text = routers.render(RESULTS)

    assert text.startswith("# NGINX or HAProxy at the edge\n")
    assert "`python -m bench.routers --out docs/benchmarks`" in text
    assert "2025-01-02T03:04:05Z" in text
    assert "2 CPUs" in text
    rows = [line for line in text.splitlines() if line.startswith("| ")]
    assert rows[0] == "| at the edge | NGINX | HAProxy |"
    assert {
        "| echo round trip p99 (ms) | 0.80 | 0.72 |",
        "| memory per idle connection (KiB) | 2.5 | 8.0 |",
        "| 429 answers at the defaults | 3,000 | 3,000 |",
        "| handshakes accepted/s, limits off | 300 | 360 |",
        "| rolling restart: lost messages | 0 | 0 |",
    } <= set(rows)


def test_the_terminal_summary_is_the_comparison_table() -> None:
    summary = routers.summary(routers.render(RESULTS))
    lines = summary.splitlines()
    assert lines[0] == "| at the edge | NGINX | HAProxy |"
    assert lines[-1] == "| rolling restart: balance after (max/mean) | 1.020 | 1.020 |"
    assert all(line.startswith("| ") or line.startswith("|---") for line in lines)


def test_which_to_choose_is_generated_from_the_numbers() -> None:
    text = routers.render(RESULTS)
    choose = text.split("## Which to choose", 1)[1].split("\n## ", 1)[0]

    assert "HAProxy had the lower p99 echo round trip through the edge: 0.72 ms against " in choose
    assert "(10% lower)" in choose
    assert "NGINX had the lower memory per idle connection at the edge: 2.5 KiB" in choose
    assert "10,000 idle connections take about 24 MiB for NGINX and 78 MiB for HAProxy" in choose
    assert "Both held all 8,000 idle connections with the defaults." in choose
    assert "HAProxy had the higher handshake rate with the limits off: 360" in choose
    assert "used 95% of a core (NGINX) and 95% of a core (HAProxy)" in choose
    assert "this machine's 2 cores" in choose
    assert "32 handshakers from one address for 20 s" in choose
    assert "NGINX accepted 150/s (100/s in the second half) and answered 429 to 3,000" in choose
    assert "can keep up 100/s through NGINX and 200/s through HAProxy" in choose
    assert "failed handshakes: 0 for both" in choose
    # The facts that are not measurements are there whatever the numbers.
    assert "runtime API" in choose
    assert "no active health" in choose


def test_which_to_choose_follows_the_numbers_the_other_way() -> None:
    results = json.loads(json.dumps(RESULTS))
    results["routers"]["nginx"]["latency"]["p99"] = 0.60
    results["routers"]["haproxy"]["capacity"]["held"] = 5000
    results["routers"]["haproxy"]["capacity"]["first_error"] = "5000/8000 clients connected"

    text = routers.render(results)

    assert "NGINX had the lower p99 echo round trip through the edge: 0.60 ms" in text
    assert "HAProxy held 5,000 of 8,000 (first error: 5000/8000 clients connected)" in text


def test_report_of_a_partial_run_says_what_was_not_measured() -> None:
    results = {**RESULTS, "routers": {"nginx": RESULTS["routers"]["nginx"]}}
    results["failure"] = {"error": "site.yml failed: TASK [Install HAProxy]"}

    text = routers.render(results)

    assert "| echo round trip p99 (ms) | 0.80 | not measured |" in text
    assert "P99 echo round trip through the edge: HAProxy not measured." in text
    assert "## The run stopped early" in text
    assert "TASK [Install HAProxy]" in text


def test_outputs_hold_the_results_and_their_figures(tmp_path: Path) -> None:
    results = json.loads(json.dumps(RESULTS))
    routers.write_outputs(results, tmp_path)

    saved = json.loads((tmp_path / routers.RESULTS_NAME).read_text())
    assert saved["command"] == RESULTS["command"]
    assert saved["figures"]["haproxy"]["latency_p99_ms"] == 0.72
    assert (tmp_path / routers.REPORT_NAME).read_text() == routers.render(saved)


def test_command_line_defaults_and_the_recorded_command() -> None:
    argv = ["--out", "/tmp/x y", "--clients", "100"]
    args = routers.parse_args(argv)
    assert (args.capacity, args.handshakers, args.handshake_seconds) == (8000, 32, 30.0)
    assert not args.keep_fleet and not args.switch_back

    results = routers.new_results(args, argv)
    assert results["command"] == "python -m bench.routers --out '/tmp/x y' --clients 100"
    assert results["settings"]["memory_connections"] == 2000
    assert set(results["routers"]) == {"nginx", "haproxy"}
