"""wsfleet_support.profile: a real ansible-playbook run on the controller, read back from
Ansible's junit callback, and where its tasks' time is counted."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from wsfleet_support import profile

PLAYBOOK = Path(__file__).parent / "playbooks" / "one_change.yml"


@pytest.fixture(scope="module")
def profiled() -> dict:
    """Two hosts on the controller, run by the Python of this test."""
    local = ["-e", "ansible_connection=local", "-e", f"ansible_python_interpreter={sys.executable}"]
    return profile.profiled_playbook("one,two,", str(PLAYBOOK), *local)


def test_every_task_of_every_host_is_recorded(profiled: dict) -> None:
    recorded = {(case["host"], case["task"].split(": ", 1)[1]) for case in profiled["tasks"]}
    assert recorded == {
        (host, task) for host in ("one", "two") for task in ("Change something", "Change nothing")
    }


def test_the_tasks_that_changed_are_told_apart_per_host(profiled: dict) -> None:
    changed = profile.changed_tasks(profiled)
    assert sorted(changed) == ["one", "two"]
    assert all(
        tasks == [tasks[0]] and tasks[0].endswith("Change something") for tasks in changed.values()
    )


def test_the_run_s_cpu_is_measured(profiled: dict) -> None:
    # Two hosts' workers and the controller: some CPU, and the machine's includes the run's.
    assert 0 < profiled["controller_cpu_seconds"] <= profiled["machine_cpu_seconds"] + 0.5


def test_a_task_counts_once_at_its_slowest_host(profiled: dict) -> None:
    summary = profile.summary(profiled)
    assert summary["task_count"] == 2
    assert [entry["hosts"] for entry in summary["slowest_tasks"]] == [2, 2]
    for entry in summary["slowest_tasks"]:
        times = [case["seconds"] for case in profiled["tasks"] if case["task"] == entry["task"]]
        assert entry["seconds"] == round(max(times), 2)
    assert summary["by_part"] == {"one_change.yml": summary["task_seconds"]}


@pytest.mark.parametrize(
    ("source", "part"),
    [
        (
            "/p/.collections/ansible_collections/wsfleet/deploy/roles/app/tasks/facts.yml:4",
            "role app",
        ),
        ("/p/roles/router/tasks/run.yml:17", "role router"),
        ("/p/playbooks/preflight.yml:5", "preflight.yml"),
        ("/p/site.yml:2", "site.yml"),
    ],
    ids=["role-in-collection", "role-in-checkout", "playbook", "top-playbook"],
)
def test_a_task_belongs_to_its_role_or_else_its_playbook(source: str, part: str) -> None:
    assert profile.part_of(source) == part


def test_parts_are_summed_largest_first() -> None:
    entries = [
        {"part": "role app", "seconds": 1.0},
        {"part": "site.yml", "seconds": 0.5},
        {"part": "role app", "seconds": 0.25},
        {"part": "role router", "seconds": 2.0},
    ]
    assert list(profile.time_by_part(entries).items()) == [
        ("role router", 2.0),
        ("role app", 1.25),
        ("site.yml", 0.5),
    ]
