"""ansible-playbook runs against an inventory, as a user runs them: the .venv's
ansible-playbook from the project root, plain output, timed; and what a run's recap says."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from wsfleet_support.paths import PROJECT

BIN = Path(sys.executable).parent
ANSIBLE_PLAYBOOK = str(BIN / "ansible-playbook")
# Plain output: the callers read task names and the recap from it.
PLAIN_OUTPUT = {"ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0"}
RECAP_LINE = re.compile(r"^(\S+)\s+: ok=\d+\s+changed=(\d+)", re.MULTILINE)
TASK_LINE = re.compile(r"^(?:TASK|RUNNING HANDLER) \[(.*)\]")
CHANGED_LINE = re.compile(r"^changed: \[([^\]]+)\]")


@dataclass(frozen=True)
class Completed:
    """A finished command: its exit status, output and wall time."""

    args: Sequence[str]
    returncode: int
    stdout: str
    stderr: str
    wall_seconds: float

    def check(self) -> Completed:
        """Itself, or a RuntimeError with the end of the output when it failed."""
        if self.returncode != 0:
            raise RuntimeError(
                f"{' '.join(self.args)} failed:\n{self.stdout[-4000:]}{self.stderr[-2000:]}"
            )
        return self


def run_timed(
    command: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    timeout: float | None = None,
    check: bool = True,
    cwd: str | os.PathLike | None = PROJECT,
) -> Completed:
    """Run a command (from the project root unless told) with env over os.environ, timed."""
    started = time.monotonic()
    result = subprocess.run(
        list(command),
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=timeout,
        check=False,
    )
    completed = Completed(
        command, result.returncode, result.stdout, result.stderr, time.monotonic() - started
    )
    return completed.check() if check else completed


def playbook_command(
    inventory: str | os.PathLike,
    playbook: str | os.PathLike,
    *options: str,
    extra_vars: Mapping | None = None,
    env: Mapping[str, str] | None = None,
) -> tuple[list[str], dict[str, str]]:
    """The command line and environment of one playbook run (a playbook path is relative to
    the project); extra_vars go as JSON, so that numbers stay numbers."""
    command = [ANSIBLE_PLAYBOOK, "-i", str(inventory), str(PROJECT / playbook), *options]
    if extra_vars:
        command += ["--extra-vars", json.dumps(dict(extra_vars))]
    return command, {**os.environ, **PLAIN_OUTPUT, **(env or {})}


def run_playbook(
    inventory: str | os.PathLike,
    playbook: str | os.PathLike,
    *options: str,
    extra_vars: Mapping | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float | None = None,
    check: bool = True,
    cwd: str | os.PathLike | None = PROJECT,
) -> Completed:
    """Run one playbook; raises RuntimeError when it fails and check."""
    command, environment = playbook_command(
        inventory, playbook, *options, extra_vars=extra_vars, env=env
    )
    return run_timed(command, env=environment, timeout=timeout, check=check, cwd=cwd)


def changed_counts(output: str) -> dict[str, int]:
    """{host: changed} from a run's PLAY RECAP."""
    return {host: int(changed) for host, changed in RECAP_LINE.findall(output)}


def changed_tasks(output: str) -> list[str]:
    """'host: task' for each task that changed a host, from the default callback's output: what
    a failed no-change assertion should say, since the end of the output holds only the recap."""
    task, changed = None, []
    for line in output.splitlines():
        header = TASK_LINE.match(line)
        if header:
            task = header.group(1)
            continue
        host = CHANGED_LINE.match(line)
        if host:
            changed.append(f"{host.group(1)}: {task}")
    return changed
