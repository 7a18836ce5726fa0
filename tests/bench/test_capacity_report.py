"""bench/capacity.py without a fleet: the playbook's variables and the command shown, the
figures and their spread from fixed reports, and the report. Nothing here asserts a timing."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest

from bench import capacity


def one_run(knee, valid=True, reason=None, by=("p99",)):
    """What measure_workload keeps of one playbook run's own JSON report."""
    return {
        "report": "capacity/echo-10-run1.md",
        "command": "ansible-playbook playbooks/capacity.yml -e '{}'",
        "result": {
            "valid": valid,
            "reason": reason,
            "knee": {
                "connections": knee,
                "messages_per_second": knee * 9.8,
                "p50_ms": 1.2,
                "p99_ms": 14.0,
                "process_cpu_cores": 0.4,
                "memory_per_connection_bytes": 10240,
                "generator_cpu_cores": [0.3, 0.32],
                "generator_host_busy_cores": 1.93,
            },
            "first_saturated": {"connections": round(knee * 1.1)},
            "saturated_by": list(by),
        },
        "recommendation": {
            "max_connections_per_process": 543,
            "processes_per_host": 2,
            "hosts": 94,
        },
    }


@pytest.mark.parametrize(
    ("knees", "expected"),
    [
        ([777, 855], (855 - 777) / 777),
        ([777, 777], 0.0),
        ([777], None),
        ([], None),
        ([0, 10], None),
    ],
)
def test_the_spread_is_the_largest_knee_over_the_smallest_less_one(knees, expected):
    assert capacity.spread(knees) == expected


def test_two_runs_one_step_apart_are_repeatable_and_two_steps_apart_are_not():
    one_step = capacity.workload_figures([one_run(777), one_run(855)])
    assert one_step["knees"] == [777, 855]
    assert one_step["repeatable"] is True
    two_steps = capacity.workload_figures([one_run(777), one_run(940)])
    assert two_steps["repeatable"] is False


def test_an_invalid_run_has_no_knee_to_compare():
    figures = capacity.workload_figures(
        [one_run(777), one_run(300, valid=False, reason="generator_saturated")]
    )
    assert figures["knees"] == [777]
    assert figures["spread"] is None
    assert figures["repeatable"] is False


def test_a_run_s_figures_come_from_its_knee_and_recommendation():
    row = capacity.run_figures(one_run(777))
    assert row["knee"] == 777
    assert row["saturated_at"] == 855
    assert row["saturated_by"] == ["p99"]
    assert row["memory_per_connection_kib"] == 10.0
    assert row["generator_cpu_cores"] == 0.32
    assert row["machine_busy_cores"] == 1.93
    assert (row["max_connections_per_process"], row["processes_per_host"], row["hosts"]) == (
        543,
        2,
        94,
    )


def test_the_playbook_gets_the_profile_the_steps_and_where_to_write():
    workload = capacity.BY_NAME["work-1"]
    extra_vars = capacity.playbook_vars(workload, Path("/out/capacity"), "work-1-run2")
    assert extra_vars["wsfleet_capacity_profile"] == {"messages_per_second": 1, "path": "/work"}
    assert extra_vars["wsfleet_capacity_steps"] == {"start": 500, **capacity.STEPS}
    assert extra_vars["wsfleet_capacity_report_dir"] == "/out/capacity"
    assert extra_vars["wsfleet_capacity_report_name"] == "work-1-run2"


def test_the_command_shown_is_the_playbook_with_this_machine_s_folder_left_out():
    extra_vars = capacity.playbook_vars(capacity.BY_NAME["echo-2"], Path("/tmp/x"), "echo-2-run1")
    words = shlex.split(capacity.user_command(extra_vars))
    assert words[:4] == ["ansible-playbook", capacity.PLAYBOOK, "-e", words[3]]
    shown = json.loads(words[3])
    assert "wsfleet_capacity_report_dir" not in shown
    assert shown["wsfleet_capacity_profile"] == {"messages_per_second": 2}
    # The caller's variables are left as they were.
    assert extra_vars["wsfleet_capacity_report_dir"] == "/tmp/x"


def test_the_report_shows_every_run_the_spread_and_a_command_to_repeat_one():
    results = {
        "command": "python -m bench.capacity",
        "started": "2026-12-04T22:45:00Z",
        "machine": {"cpus": 2, "os": "Debian GNU/Linux 12 (bookworm)"},
        "workloads": {"echo-10": [one_run(777), one_run(855)]},
    }
    report = capacity.render(results)
    assert "| echo, 10 messages/s | [1](capacity/echo-10-run1.md) | 777 |" in report
    assert "| echo, 10 messages/s | 777, 855 | 10.0% | yes |" in report
    assert "ansible-playbook playbooks/capacity.yml" in report
