"""Run the project's playbooks against the scenario's inventory, as a user would."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

PROJECT = Path(os.environ["MOLECULE_PROJECT_DIRECTORY"])
INVENTORY = os.environ["MOLECULE_INVENTORY_FILE"]
ANSIBLE_PLAYBOOK = str(Path(sys.executable).parent / "ansible-playbook")


def playbook_command(playbook, *options, **extra_vars):
    """The command line and environment that run one playbook against the scenario's hosts."""
    command = [ANSIBLE_PLAYBOOK, "-i", INVENTORY, str(PROJECT / playbook), *options]
    if extra_vars:
        command += ["--extra-vars", json.dumps(extra_vars)]
    # Plain output: the tests read task names and the recap from it.
    environment = {**os.environ, "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0"}
    return command, environment


def ansible_playbook(playbook, *options, **extra_vars):
    command, environment = playbook_command(playbook, *options, **extra_vars)
    return subprocess.run(
        command, capture_output=True, text=True, timeout=900, check=False, env=environment
    )


def run_ok(playbook, *options, **extra_vars):
    result = ansible_playbook(playbook, *options, **extra_vars)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    return result


def changed_counts(result):
    """{host: changed} from a run's PLAY RECAP."""
    return {
        host: int(changed)
        for host, changed in re.findall(r"^(\S+)\s+: ok=\d+\s+changed=(\d+)", result.stdout, re.M)
    }
