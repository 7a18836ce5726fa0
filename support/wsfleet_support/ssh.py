"""Commands on a local fleet's hosts over plain SSH (as root, with the project's key and the
fleet's known hosts), and the host-side scripts of wsfleet_support.remote run there from
their files: each goes on the remote python's stdin."""

from __future__ import annotations

import shlex
import subprocess

from wsfleet_support import remote
from wsfleet_support.fleet import LocalFleet


def ssh_command(fleet: LocalFleet, address: str, *words: str) -> list[str]:
    """ssh to a host; the words form the remote shell's command line, as ssh joins them."""
    return [
        "ssh", "-i", str(fleet.ssh_key),
        "-o", f"UserKnownHostsFile={fleet.known_hosts}", "-o", "StrictHostKeyChecking=yes",
        "-o", "BatchMode=yes", f"root@{address}", *words,
    ]  # fmt: skip


def run(fleet: LocalFleet, address: str, *words: str, check: bool = True) -> str:
    """A command's output on a host; raises CalledProcessError when it fails and check."""
    command = ssh_command(fleet, address, *words)
    return subprocess.run(command, check=check, capture_output=True, text=True).stdout


def shell(fleet: LocalFleet, address: str, script: str, check: bool = True) -> str:
    """A shell script's output on a host (sh -c, quoted whole)."""
    return run(fleet, address, "sh", "-c", shlex.quote(script), check=check)


def script_command(
    fleet: LocalFleet, address: str, name: str, *args: str, python: str = "python3"
) -> list[str]:
    """ssh running a host-side script read from stdin (`python -`), unbuffered."""
    return ssh_command(fleet, address, shlex.join([python, "-u", "-", *map(str, args)]))


def run_script(
    fleet: LocalFleet, address: str, name: str, *args: str, python: str = "python3"
) -> str:
    """A host-side script's output (remote/NAME), run on a host with these arguments."""
    command = script_command(fleet, address, name, *args, python=python)
    text = remote.path(name).read_text()
    return subprocess.run(command, input=text, check=True, capture_output=True, text=True).stdout


def start_script(
    fleet: LocalFleet, address: str, name: str, *args: str, python: str = "python3"
) -> subprocess.Popen:
    """A host-side script started on a host, its output a pipe of text lines."""
    command = script_command(fleet, address, name, *args, python=python)
    with remote.path(name).open() as script:
        return subprocess.Popen(command, stdin=script, stdout=subprocess.PIPE, text=True)
