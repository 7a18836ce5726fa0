"""The capacity measurement's rules: the plan, saturation, the knee and the recommendation."""

import pytest
from ansible_collections.wsfleet.deploy.plugins.module_utils import capacity

LIMITS = {"cpu_cores": 0.9, "p99_ms": 50, "lag_seconds": 0.1, "failed_handshakes": 0}
GENERATOR_LIMIT = 0.85


def step(connections, **figures):
    """A step that meets no criterion, with these figures changed."""
    base = dict(
        connections=connections,
        process_cpu_cores=0.2,
        p99_ms=5.0,
        event_loop_lag_seconds=0.001,
        failed_handshakes=0,
        generator_cpu_cores=[0.2, 0.2],
    )
    base.update(figures)
    return base


@pytest.mark.parametrize(
    ("start", "factor", "maximum", "plan"),
    [
        (100, 2, 800, [100, 200, 400, 800]),
        (100, 2, 700, [100, 200, 400, 700]),
        (100, 1.5, 400, [100, 150, 225, 338, 400]),
        # A factor too small to move a small count still adds one.
        (1, 1.1, 3, [1, 2, 3]),
        (50, 3, 50, [50]),
    ],
)
def test_the_plan_multiplies_up_to_the_maximum(start, factor, maximum, plan):
    assert capacity.step_plan(start, factor, maximum) == plan


@pytest.mark.parametrize(("start", "factor", "maximum"), [(0, 2, 10), (10, 1, 100), (10, 2, 5)])
def test_a_plan_that_cannot_grow_is_refused(start, factor, maximum):
    with pytest.raises(ValueError):
        capacity.step_plan(start, factor, maximum)


@pytest.mark.parametrize(
    ("figures", "criteria"),
    [
        ({}, []),
        ({"process_cpu_cores": 0.9}, ["cpu"]),
        ({"p99_ms": 50.0}, []),
        ({"p99_ms": 50.1}, ["p99"]),
        # No answer at all in the window: as bad as a p99 past any limit.
        ({"p99_ms": None}, ["p99"]),
        ({"event_loop_lag_seconds": 0.2}, ["lag"]),
        ({"failed_handshakes": 1}, ["failures"]),
        ({"process_cpu_cores": 0.95, "p99_ms": 80.0}, ["cpu", "p99"]),
    ],
)
def test_a_step_is_saturated_by_each_criterion_it_meets(figures, criteria):
    assert capacity.saturated_by(step(100, **figures), LIMITS) == criteria


@pytest.mark.parametrize(
    ("figures", "outcome"),
    [
        ({}, "next"),
        ({"p99_ms": 80.0}, "saturated"),
        ({"generator_cpu_cores": [0.3, 0.86]}, "invalid"),
        # A saturated generator explains a slow echo: the step says nothing of the process.
        ({"generator_cpu_cores": [0.9, 0.9], "p99_ms": 80.0}, "invalid"),
    ],
)
def test_the_verdict_judges_the_generator_first(figures, outcome):
    assert capacity.verdict(step(100, **figures), LIMITS, GENERATOR_LIMIT) == outcome


@pytest.mark.parametrize(
    ("steps", "valid", "reason", "knee", "first_saturated", "criteria"),
    [
        (
            [step(100), step(200), step(400, process_cpu_cores=0.93)],
            True,
            "saturated",
            200,
            400,
            ["cpu"],
        ),
        (
            [step(100, event_loop_lag_seconds=0.5)],
            False,
            "saturated_at_first_step",
            None,
            100,
            ["lag"],
        ),
        ([step(100), step(200)], False, "not_saturated", 200, None, []),
        (
            [step(100), step(200, generator_cpu_cores=[0.9])],
            False,
            "generator_saturated",
            100,
            None,
            [],
        ),
    ],
)
def test_the_knee_is_the_last_step_before_saturation(
    steps, valid, reason, knee, first_saturated, criteria
):
    result = capacity.knee(steps, LIMITS, GENERATOR_LIMIT)
    assert (result["valid"], result["reason"], result["saturated_by"]) == (valid, reason, criteria)
    assert (result["knee"] or {}).get("connections") == knee
    assert (result["first_saturated"] or {}).get("connections") == first_saturated


@pytest.mark.parametrize(
    ("knee", "headroom", "processes", "target", "spares", "cap", "needed", "hosts"),
    [
        (5000, 0.3, 4, 100000, 1, 3500, 8, 9),
        (5000, 0.0, 4, 100000, 0, 5000, 5, 5),
        (1000, 0.5, 2, 100000, 2, 500, 100, 102),
        # Rounded up: 7 processes' worth of connections still need a second host.
        (1000, 0.3, 2, 1500, 1, 700, 2, 3),
    ],
)
def test_the_recommendation_keeps_headroom_and_spares(
    knee, headroom, processes, target, spares, cap, needed, hosts
):
    advice = capacity.recommendation(knee, headroom, processes, target, spares)
    assert advice["max_connections_per_process"] == cap
    assert advice["connections_per_host"] == cap * processes
    assert (advice["hosts_for_target"], advice["hosts"]) == (needed, hosts)


def test_no_recommendation_below_one_connection_per_process():
    assert capacity.recommendation(1, 0.5, 2, 1000, 1) is None


@pytest.mark.parametrize(
    ("values", "fraction", "expected"),
    [
        ([], 0.5, None),
        ([1.0], 0.99, 1.0),
        ([1.0, 2.0, 3.0, 4.0], 0.5, 2.0),
        (list(range(1, 101)), 0.99, 99),
    ],
)
def test_percentiles_are_nearest_rank(values, fraction, expected):
    assert capacity.percentile(values, fraction) == expected


def test_prometheus_values_reads_the_unlabelled_samples_asked_for():
    text = "\n".join(
        [
            "# HELP process_cpu_seconds_total Total user and system CPU time.",
            "# TYPE process_cpu_seconds_total counter",
            "process_cpu_seconds_total 12.5",
            'wsfleet_app_handshakes_total{code="101"} 3.0',
            "wsfleet_app_open_connections 250.0",
        ]
    )
    wanted = ("process_cpu_seconds_total", "wsfleet_app_open_connections", "absent")
    assert capacity.prometheus_values(text, wanted) == {
        "process_cpu_seconds_total": 12.5,
        "wsfleet_app_open_connections": 250.0,
    }


def test_a_steps_figures_come_from_the_windows_and_the_process_metrics():
    baseline = {"process_resident_memory_bytes": 50e6, "wsfleet_app_open_connections": 0}
    before = {"process_cpu_seconds_total": 10.0}
    after = {
        "process_cpu_seconds_total": 15.0,
        "process_resident_memory_bytes": 60e6,
        "wsfleet_app_open_connections": 1000,
        "wsfleet_app_event_loop_lag_seconds": 0.004,
    }
    windows = [
        {"round_trips_ms": [float(ms) for ms in range(1, 101)], "answered": 500, "cpu_cores": 0.3},
        {"round_trips_ms": [200.0], "answered": 500, "cpu_cores": 0.25},
    ]
    figures = capacity.step_figures(1000, 2, windows, before, after, 10.0, baseline)
    assert figures["messages_per_second"] == 100.0
    assert figures["process_cpu_cores"] == 0.5
    assert figures["memory_per_connection_bytes"] == 10000
    assert (figures["p50_ms"], figures["p99_ms"]) == (51.0, 100.0)
    assert figures["generator_cpu_cores"] == [0.3, 0.25]
    assert figures["failed_handshakes"] == 2


@pytest.mark.parametrize(
    ("before", "after", "busy"),
    [
        # 2 CPUs, 1000 jiffies between the readings, 250 of them idle: 1.5 cores busy.
        ((10_000, 4_000, 2), (11_000, 4_250, 2), 1.5),
        ((10_000, 4_000, 2), (11_000, 5_000, 2), 0.0),
        ((10_000, 4_000, 4), (11_000, 4_000, 4), 4.0),
        # No time between the readings: nothing to say.
        ((10_000, 4_000, 2), (10_000, 4_000, 2), None),
    ],
)
def test_busy_cores_are_the_non_idle_share_of_the_host_s_cpus(before, after, busy):
    assert capacity.busy_cores(before, after) == busy
