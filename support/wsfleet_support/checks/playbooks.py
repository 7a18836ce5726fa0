"""Run the project's playbooks against the scenario's inventory, as a user would."""

from __future__ import annotations

import json
import os

from wsfleet_support import playbooks
from wsfleet_support.paths import PROJECT
from wsfleet_support.playbooks import Completed, changed_counts, changed_tasks

INVENTORY = os.environ.get("MOLECULE_INVENTORY_FILE", "")
TIMEOUT_SECONDS = 900
# From the verifier's own folder, as molecule starts it: Ansible finds its settings there.
CWD = None
# Settings every run of a scenario's tests adds (JSON), such as the faults report's run with
# HAProxy at the edge: the fleet's own site.yml runs keep them.
SCENARIO_EXTRA_VARS = json.loads(os.environ.get("WSFLEET_TEST_EXTRA_VARS") or "{}")


def playbook_command(playbook, *options, **extra_vars):
    """The command line and environment that run one playbook against the scenario's hosts."""
    return playbooks.playbook_command(
        INVENTORY, playbook, *options, extra_vars={**SCENARIO_EXTRA_VARS, **extra_vars}
    )


def ansible_playbook(playbook, *options, **extra_vars) -> Completed:
    return playbooks.run_playbook(
        INVENTORY,
        playbook,
        *options,
        extra_vars={**SCENARIO_EXTRA_VARS, **extra_vars},
        timeout=TIMEOUT_SECONDS,
        check=False,
        cwd=CWD,
    )


def run_ok(playbook, *options, **extra_vars) -> Completed:
    result = ansible_playbook(playbook, *options, **extra_vars)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    return result


__all__ = [
    "INVENTORY",
    "PROJECT",
    "ansible_playbook",
    "changed_counts",
    "changed_tasks",
    "playbook_command",
]
