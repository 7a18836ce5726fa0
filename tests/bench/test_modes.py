"""bench/modes.py without a fleet: the balance and the report table from its results."""

from __future__ import annotations

import pytest

from bench import modes


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        ({"app1/1b.sock": 300, "app1/2b.sock": 300, "app2/9002": 400}, 1.2),
        ({"app1/9001": 0, "app1/9003": 0}, None),
        ({}, None),
    ],
    ids=["uneven", "no-connections", "no-process-address"],
)
def test_balance_is_the_busiest_process_over_the_mean(counts, expected):
    assert modes.balance(counts) == expected


def mode(bind: str, balance_after: float | None) -> dict:
    return {
        "process_manager": "supervisor",
        "bind": bind,
        "replaced": ["surge"] if bind != "reuseport" else ["in_place"],
        "wall_seconds": 14.04,
        "handshakes_failed": 0,
        "abnormal_closures": 0,
        "messages_lost": 0,
        "messages_sent": 66905,
        "closes_per_client": 1.0,
        "balance_after": balance_after,
    }


def test_the_report_has_a_row_per_mode_and_says_how_it_was_made():
    results = {
        "command": "python -m bench.modes --clients 2000",
        "started": "2026-11-29T18:00:00Z",
        "machine": {"cpus": 2},
        "clients": 2000,
        "modes": [mode("tcp", 1.01), mode("reuseport", None)],
    }
    text = modes.markdown(results)
    assert "`python -m bench.modes --clients 2000`" in text
    assert "| supervisor | tcp | surge | 14.0 | 0 | 0 | 0 / 66,905 | 1.00 | 1.01 |" in text
    assert "| supervisor | reuseport | in_place | 14.0 | 0 | 0 | 0 / 66,905 | 1.00 | - |" in text
