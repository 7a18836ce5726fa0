"""Scripts that run on fleet hosts, kept as files here (linted and unit tested like the rest)
and shipped to a host when used:

- over plain SSH (bench/, ssh.run_script), a script goes on the remote python's stdin
  (`python3 - ARGS`): nothing is left on the host;
- from testinfra (molecule), whose hosts run commands but give them no stdin, a script is
  written once per host and session to SCRIPTS_DIR, named by its content hash, through the
  same SSH channel as every check (its bytes base64-encoded in one command), then run as a
  file: `host.check_output(remote.command(host, "probe.py", "healthz", path))`.

probe.py needs only the standard library (any python3 on the host); ws_probe.py needs
websockets (the app's virtualenv).
"""

from __future__ import annotations

import base64
import hashlib
import shlex
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
# /var/tmp outlives a host's reboot (a fault test stops and starts one), unlike /tmp.
SCRIPTS_DIR = "/var/tmp/wsfleet-support"
_installed: set[tuple[str, str]] = set()


def path(name: str) -> Path:
    """The local file of a host-side script, by its name (probe.py)."""
    script = HERE / name
    if script.parent != HERE or not script.is_file():
        raise ValueError(f"no host-side script {name!r} in {HERE}")
    return script


def digest(name: str) -> str:
    return hashlib.sha256(path(name).read_bytes()).hexdigest()[:16]


def remote_path(name: str) -> str:
    """Where a script stands on a host once installed, by its content."""
    stem, _, suffix = name.rpartition(".")
    return f"{SCRIPTS_DIR}/{stem}-{digest(name)}.{suffix}"


def install_command(name: str) -> str:
    """A shell command that writes the script to remote_path(name)."""
    encoded = base64.b64encode(path(name).read_bytes()).decode()
    target = remote_path(name)
    return (
        f"mkdir -p {SCRIPTS_DIR} && echo {encoded} | base64 -d > {target}.new "
        f"&& mv {target}.new {target}"
    )


def install(host: Any, name: str) -> str:
    """Put a script on a testinfra host (once per host and session); its path there."""
    target = remote_path(name)
    key = (host.backend.get_pytest_id(), target)
    if key not in _installed:
        host.check_output(install_command(name))
        _installed.add(key)
    return target


def command(host: Any, name: str, *args: str, python: str = "python3") -> str:
    """The command line that runs a script on a testinfra host with these arguments."""
    return shlex.join([python, install(host, name), *map(str, args)])
