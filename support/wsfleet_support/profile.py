"""Where a playbook's time goes, from Ansible's own junit callback: a run's tasks with the time
and change of each on each host, each task counted once at its slowest host (the hosts of a
play run a task together), and the sum by role or playbook."""

from __future__ import annotations

import os
import re
import resource
import tempfile
import xml.etree.ElementTree as ElementTree
from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path

from wsfleet_support.playbooks import run_playbook

# A junit test case is named "[host] play: task" and classed by the task's file and line.
HOST_PREFIX = re.compile(r"^\[(?P<host>[^\]]+)\] ")
ROLE_PATH = re.compile(r"/roles/(?P<role>[^/]+)/")
# Columns of the cpu line of /proc/stat (user nice system idle iowait irq softirq steal).
IDLE, IOWAIT = 3, 4


def profiled_playbook(inventory: str | Path, playbook: str, *options: str) -> dict:
    """Run a playbook with the junit callback: its wall time and its task results. A change is
    recorded as a junit failure (fail_on_change), which tells it apart per host and task."""
    with tempfile.TemporaryDirectory(prefix="wsfleet-junit-") as junit_dir:
        env = {
            "ANSIBLE_CALLBACKS_ENABLED": "ansible.builtin.junit",
            "JUNIT_OUTPUT_DIR": junit_dir,
            "JUNIT_FAIL_ON_CHANGE": "true",
            "JUNIT_HIDE_TASK_ARGUMENTS": "true",
        }
        machine_before, controller_before = machine_cpu_seconds(), controller_cpu_seconds()
        completed = run_playbook(inventory, playbook, *options, env=env)
        machine_cpu = machine_cpu_seconds() - machine_before
        controller_cpu = controller_cpu_seconds() - controller_before
        tasks = [case for path in sorted(Path(junit_dir).glob("*.xml")) for case in cases(path)]
    return {
        "playbook": playbook,
        "wall_seconds": round(completed.wall_seconds, 2),
        "controller_cpu_seconds": round(controller_cpu, 2),
        "machine_cpu_seconds": round(machine_cpu, 2),
        "tasks": tasks,
    }


def controller_cpu_seconds() -> float:
    """CPU time of the child processes waited for so far: ansible-playbook and its workers."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def machine_cpu_seconds() -> float:
    """CPU time every process of the machine has used (all but idle and iowait, /proc/stat):
    with a local fleet, the hosts' share too, which tells a run bound by the CPUs."""
    ticks = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    busy = sum(ticks) - ticks[IDLE] - ticks[IOWAIT]
    return busy / os.sysconf("SC_CLK_TCK")


def cases(path: Path) -> list[dict]:
    """Every task result of a junit file: host, task, where it is written, seconds, changed."""
    return [case_record(case) for case in ElementTree.parse(path).getroot().iter("testcase")]


def case_record(case: ElementTree.Element) -> dict:
    name = case.get("name", "")
    host = HOST_PREFIX.match(name)
    return {
        "host": host["host"] if host else "",
        "task": HOST_PREFIX.sub("", name),
        "source": case.get("classname", ""),
        "seconds": float(case.get("time", 0)),
        "changed": case.find("failure") is not None,
    }


def changed_tasks(run: Mapping) -> dict[str, list[str]]:
    """The tasks that changed something, by host; empty for a no-op."""
    changed = defaultdict(list)
    for case in run["tasks"]:
        if case["changed"]:
            changed[case["host"]].append(case["task"])
    return dict(changed)


def task_profile(run: Mapping) -> list[dict]:
    """Each task once, at its slowest host, with the hosts it ran on; slowest first."""
    slowest: dict[tuple[str, str], float] = {}
    hosts: dict[tuple[str, str], int] = defaultdict(int)
    for case in run["tasks"]:
        key = (case["source"], case["task"])
        slowest[key] = max(slowest.get(key, 0.0), case["seconds"])
        hosts[key] += 1
    profile = [
        {"task": task, "part": part_of(source), "seconds": round(seconds, 2), "hosts": hosts[key]}
        for key, seconds in slowest.items()
        for source, task in [key]
    ]
    return sorted(profile, key=lambda entry: entry["seconds"], reverse=True)


def part_of(source: str) -> str:
    """The role a task is written in, or else its playbook's file name."""
    role = ROLE_PATH.search(source)
    return f"role {role['role']}" if role else Path(source.rsplit(":", 1)[0]).name


def time_by_part(profile: list[dict]) -> dict[str, float]:
    """Seconds of tasks by role or playbook, the largest first."""
    totals: dict[str, float] = defaultdict(float)
    for entry in profile:
        totals[entry["part"]] += entry["seconds"]
    ordered = sorted(totals.items(), key=lambda item: item[1], reverse=True)
    return {part: round(seconds, 2) for part, seconds in ordered}


def summary(run: Mapping, slowest: int = 15) -> dict:
    """What a report keeps of a profiled run."""
    profile = task_profile(run)
    return {
        "wall_seconds": run["wall_seconds"],
        "controller_cpu_seconds": run["controller_cpu_seconds"],
        "machine_cpu_seconds": run["machine_cpu_seconds"],
        "changed": changed_tasks(run),
        "task_count": len(profile),
        "task_seconds": round(sum(entry["seconds"] for entry in profile), 2),
        "by_part": time_by_part(profile),
        "slowest_tasks": profile[:slowest],
    }
