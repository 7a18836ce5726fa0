"""bench/flood.py without a fleet: its flood against the real example app capped, the figures
from fixed results, and the report. Nothing here asserts a timing."""

from __future__ import annotations

import asyncio
import json

from bench import flood
from wsfleet_support.wsload import LoadConfig


def test_the_flood_fills_a_capped_process_and_is_then_refused_with_retry_after(start_server):
    server = start_server(WSFLEET_MAX_CONNECTIONS="3")
    flooders = LoadConfig(url=server.uri(), clients=5)
    flooded = asyncio.run(flood.flood(flooders, seconds=1.0, pause=0.05))
    assert flooded["outcomes"][flood.ACCEPTED] == flooded["held_at_end"] == 3
    assert flooded["outcomes"][flood.REFUSED_FULL] > 0
    assert set(flooded["outcomes"]) == {flood.ACCEPTED, flood.REFUSED_FULL}
    assert flooded["retry_after"] == {"5": flooded["outcomes"][flood.REFUSED_FULL]}
    assert flooded["refusal_seconds"]["p50"] > 0
    assert flooded["full_at_epoch"] is not None
    # The held connections were closed at the end.
    assert server.health()["connections"] == 0


def test_the_refusals_alone_start_at_the_first_mark_after_the_fleet_was_full():
    marks = [(100.0, 10), (100.25, 40), (100.5, 90)]
    assert flood.mark_after(marks, 100.1) == 40
    assert flood.mark_after(marks, 100.25) == 40
    # Full after the last mark, or never: the last one.
    assert flood.mark_after(marks, 101.0) == 90
    assert flood.mark_after(marks, None) == 90


def test_the_fleet_is_capped_and_the_limits_are_off():
    assert json.loads(flood.cap_vars(100)) == {
        "wsfleet_app_max_connections": 100,
        "wsfleet_router_limit_handshake_rate": 0,
    }


def one_flood(pause, p99_before, p99_during):
    return {
        "flood": {
            "pause": pause,
            "cpu_seconds": 19.5,
            "outcomes": {"accepted": 300, "http 503": 4200, "timeout": 2},
            "refusal_seconds": {"p50": 0.012, "p99": 0.08},
            "retry_after": {"5": 4200},
        },
        "latency_before": {"p50": 0.004, "p99": p99_before},
        "latency_during": {"p50": 0.006, "p99": p99_during},
        "latency_once_full": {"p50": 0.005, "p99": p99_before * 1.5},
        "established_cpu_seconds": 3.2,
    }


def measured(*floods):
    return {
        "capacity": 600,
        "floods": list(floods),
        "established": {
            "clients_connected": 300,
            "messages_sent": 18000,
            "messages_lost": 0,
            "abnormal_closures": 0,
            "handshakes_failed": 0,
        },
    }


def test_each_flood_adds_the_established_clients_to_what_it_took():
    (figures,) = flood.router_figures(measured(one_flood(0.1, 0.010, 0.015)), 20.0)
    assert (figures["taken"], figures["capacity"]) == (600, 600)
    assert (figures["refused_full"], figures["refused_per_second"]) == (4200, 210.0)
    assert figures["other_outcomes"] == {"timeout": 2}
    assert figures["p99_ratio"] == 0.015 / 0.010
    assert figures["p99_once_full_ratio"] == 1.5
    assert figures["pause"] == 0.1


def test_the_report_has_a_row_per_router_and_flood_and_names_the_command():
    results = {
        "command": "python -m bench.flood --clients 300",
        "started": "2026-12-04T16:00:00Z",
        "machine": {"cpus": 2, "os": "Debian GNU/Linux 12 (bookworm)"},
        "settings": {
            "clients": 300,
            "rate": 1.0,
            "cap": 100,
            "processes_per_host": 2,
            "app_hosts": 3,
            "flooders": 64,
            "seconds": 20.0,
            "pauses": [0.1, 5.0],
        },
        "routers": {
            "nginx": measured(one_flood(0.1, 0.010, 0.015), one_flood(5.0, 0.010, 0.011)),
            "haproxy": measured(one_flood(0.1, 0.010, 0.030)),
        },
    }
    report = flood.render(results)
    assert "`.venv/bin/python -m bench.flood --clients 300`" in report
    assert (
        "| NGINX | 0.1 s | 600 of 600 | 4,200 (210/s); other: timeout: 2 | 12.0 ms / 80.0 ms |"
        in report
    )
    assert "| NGINX | 5.0 s |" in report
    assert "10.0 ms → 30.0 ms (3.00 x) | 15.0 ms (1.50 x) |" in report
    assert "19.5 s / 3.2 s" in report
    assert "0 messages lost of 18,000" in report
    assert "other: timeout: 2" in report
