"""What app_rollout tells of a rollout: the lines the play prints, the failure message and the
report kept on the host."""

import json
import os

import pytest
from ansible_collections.wsfleet.deploy.plugins.module_utils.rollout_report import (
    default_report_path,
    failure_message,
    headline,
    keep_report,
    report_lines,
    step_line,
)


def step(**fields):
    """A step as the rollout reports it: every field, these ones set."""
    entry = {
        "process": 1,
        "action": "replace",
        "phase": "rollout",
        "mode": "surge",
        "old_side": "a",
        "new_side": "b",
        "connections_before": None,
        "drain_seconds": None,
        "start_to_healthy_seconds": None,
        "gate_passed": None,
        "attempts": 0,
        "release": None,
        "reason": "",
    }
    entry.update(fields)
    return entry


@pytest.mark.parametrize(
    ("fields", "line"),
    [
        (
            dict(connections_before=12, drain_seconds=0.31, start_to_healthy_seconds=0.214),
            "rollout replace process 1 a -> b: 12 connections, drained in 0.31 s, healthy 0.214 s"
            " after its start",
        ),
        (
            # In place: the same side again, so no arrow; nothing measured shows a placeholder.
            dict(process=3, old_side="a", new_side="a"),
            "rollout replace process 3: ? connections, drained in - s, healthy - s after its start",
        ),
        (
            dict(action="start", old_side=None, new_side="a", start_to_healthy_seconds=1.0),
            "rollout start process 1: ? connections, drained in - s, healthy 1.0 s after its start",
        ),
        (
            dict(action="stop", old_side="b", new_side=None, connections_before=0, drain_seconds=0),
            "rollout stop process 1: 0 connections, drained in 0 s, healthy - s after its start",
        ),
        (
            dict(
                process=2,
                phase="rollback",
                old_side="b",
                new_side="a",
                connections_before=4,
                reason="failed its health gate after 3 attempts: refused",
            ),
            "rollback replace process 2 b -> a: 4 connections, drained in - s, healthy - s after"
            " its start (FAILED: failed its health gate after 3 attempts: refused)",
        ),
    ],
    ids=["surge", "in-place-unmeasured", "start", "stop-zero", "rollback-failed"],
)
def test_each_step_is_one_line(fields, line):
    assert step_line(step(**fields)) == line


def report(**fields):
    base = {
        "outcome": "done",
        "mode": "surge",
        "release_before": "1.0.0-aaa",
        "release_after": "1.1.0-bbb",
        "seconds": 1.482,
        "processes": [],
        "failure": None,
        "rollback_failure": None,
    }
    base.update(fields)
    return base


GATED = [
    step(process=1, gate_passed=True),
    step(process=2, gate_passed=False, reason="did not start: exit status 1"),
    step(process=3, action="stop", new_side=None),
    step(process=4, action="check", old_side="a", new_side="a", gate_passed=True),
]


@pytest.mark.parametrize(
    ("fields", "line"),
    [
        (
            dict(processes=GATED),
            "release 1.1.0-bbb live (done, surge); 1 of 2 started processes passed their health"
            " gate in 1.482 s",
        ),
        (
            dict(outcome="unchanged", mode="in_place", release_after=None, seconds=0.0),
            "release none live (unchanged, in_place); 0 of 0 started processes passed their"
            " health gate in 0.0 s",
        ),
    ],
    ids=["gates-but-checks", "nothing-live"],
)
def test_the_headline_counts_the_gates_of_the_steps_taken(fields, line):
    assert headline(report(**fields)) == line


def test_a_line_per_step_but_the_checks_of_processes_left_alone():
    lines = report_lines(report(processes=GATED))
    assert [line.split(":")[0] for line in lines] == [
        "rollout replace process 1 a -> b",
        "rollout replace process 2 a -> b",
        "rollout stop process 3",
    ]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            dict(outcome="failed", failure="process 1 (echo) did not start"),
            "process 1 (echo) did not start",
        ),
        (
            dict(
                outcome="rolled_back", release_after="1.0.0-aaa", failure="process 1 (echo) failed"
            ),
            "back on 1.0.0-aaa and serving: process 1 (echo) failed",
        ),
        (
            dict(
                outcome="rollback_failed", failure="process 1 (echo) failed", rollback_failure="no"
            ),
            "process 1 (echo) failed; going back to 1.0.0-aaa failed too: no",
        ),
    ],
    ids=["failed", "rolled-back", "rollback-failed"],
)
def test_the_failure_says_where_the_host_stands(fields, message):
    assert failure_message(report(**fields)) == message


def test_the_report_is_kept_whole_and_names_the_failure(tmp_path):
    kept_report = {
        "outcome": "rolled_back",
        "release_after": "1.0.0-aaa",
        "failure": "process 1 (echo) failed its health gate",
        "report_path": default_report_path(str(tmp_path)),
    }
    keep_report(kept_report)
    kept = json.loads((tmp_path / "last-rollout.json").read_text())
    assert kept["outcome"] == "rolled_back"
    assert kept["msg"] == "back on 1.0.0-aaa and serving: process 1 (echo) failed its health gate"
    assert oct(os.stat(tmp_path / "last-rollout.json").st_mode & 0o777) == "0o644"
    assert [path.name for path in tmp_path.iterdir()] == ["last-rollout.json"]
