"""The deployed example app on the scenario's app hosts: its paths, its units, and its
processes' /healthz read on a host (remote/probe.py)."""

from __future__ import annotations

import json
import re
import shutil
import urllib.request
from pathlib import Path

from wsfleet_support import prometheus, remote
from wsfleet_support.fleet import Inventory
from wsfleet_support.paths import EXAMPLE_APP

APP = "echo"
BASE_DIR = f"/srv/{APP}"
CONFIG_DIR = f"/etc/{APP}"
RUNTIME_DIR = f"/run/{APP}"
VENV_PYTHON = f"{BASE_DIR}/current/venv/bin/python"
# The router's metrics listener and the exporters' ports (their roles' defaults).
METRICS_PORT = 9180
NODE_EXPORTER_PORT = 9100
NGINX_EXPORTER_PORT = 9113

# A process's systemd unit: slot N runs as <app>@Na or <app>@Nb (the other side is a surge
# successor for a moment during a rollout).
UNIT = re.compile(rf"^({APP}@(\d+)[ab])\.service$")


def hosts_of(group):
    """The scenario's hosts of an inventory group, by name."""
    return Inventory().hosts_of(group)


def remote_host(name):
    """A testinfra host for one of the scenario's hosts."""
    return Inventory().host(name)


def address(name):
    return Inventory().address(name)


def live_units(host):
    """The unit serving each process slot now, {slot: "echo@1b"}, from systemd's active units."""
    listing = host.check_output(
        f"systemctl list-units --state=active --no-legend --plain '{APP}@*.service'"
    )
    units = {}
    for line in listing.splitlines():
        match = UNIT.match(line.split()[0]) if line.split() else None
        if match:
            units[int(match.group(2))] = match.group(1)
    return units


def process_pids(name):
    """Main PID of every process of the app on a host, by process slot."""
    host = remote_host(name)
    return {
        slot: int(host.check_output(f"systemctl show -p MainPID --value {unit}"))
        for slot, unit in live_units(host).items()
    }


def versions_served(name):
    """The app versions a host's processes report on /healthz."""
    host = remote_host(name)
    sockets = [f"{RUNTIME_DIR}/{slot}.sock" for slot in process_pids(name)]
    return {healthz(host, socket)["body"]["version"] for socket in sockets}


def main_pid(host, slot):
    """Main PID of the process serving a slot; 0 while none does."""
    unit = live_units(host).get(slot)
    if unit is None:
        return 0
    return int(host.check_output(f"systemctl show -p MainPID --value {unit}"))


def probe_command(host, *args):
    """The command that runs remote/probe.py on a host (the standard library's python3)."""
    return remote.command(host, "probe.py", *args)


def healthz(host, socket_path):
    """GET /healthz on one process's unix socket, from inside the host: {status, body}."""
    return json.loads(host.check_output(probe_command(host, "healthz", socket_path)))


def metrics(host, socket_path):
    """{(sample name, sorted labels): value} of GET /metrics on one process's unix socket."""
    return prometheus.samples(host.check_output(probe_command(host, "metrics", socket_path)))


def metrics_on_port(host, address, port, path="/metrics"):
    """{(sample name, sorted labels): value} of GET PATH on ADDRESS:PORT, from inside the host:
    a router's metrics listener, an exporter."""
    return prometheus.samples(host.check_output(probe_command(host, "get", address, port, path)))


def scrape(address, port, path="/metrics"):
    """{(sample name, sorted labels): value} of GET PATH on ADDRESS:PORT from the controller,
    where Prometheus would stand (an allowed metrics source)."""
    with urllib.request.urlopen(f"http://{address}:{port}{path}", timeout=10) as response:
        return prometheus.samples(response.read().decode())


def port_open_from(source, address, port):
    """Whether SOURCE (a testinfra host) reaches ADDRESS:PORT: "open", or the error's name."""
    return source.check_output(probe_command(source, "port-open", address, port))


def names(samples):
    """The sample names of a scrape."""
    return {name for name, _ in samples}


def healthz_over_tcp(host, port):
    """GET /healthz on one process's loopback port, from inside the host: its body."""
    return json.loads(host.check_output(probe_command(host, "healthz-tcp", port)))["body"]


def websocket_echo(host, target):
    """A WebSocket handshake, a ping and an echo, from inside the host with the app's own
    websockets (remote/ws_probe.py): the echo of "ping through TARGET"."""
    return host.check_output(
        remote.command(host, "ws_probe.py", "echo", target, python=VENV_PYTHON)
    )


def current_release(host):
    return host.file(f"{BASE_DIR}/current").linked_to.split("/")[-1]


def example_app_at_version(tmp_path_factory, version):
    """A copy of the example app whose package has another version: a new release to deploy."""
    source = tmp_path_factory.mktemp(f"app-{version}")
    shutil.copytree(EXAMPLE_APP, source, dirs_exist_ok=True)
    pyproject = source / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text().replace('version = "1.0.0"', f'version = "{version}"')
    )
    return source


def rewrite_server(source, old, new):
    """Change the server code of an example app copy (a broken or slow release to deploy)."""
    server = Path(source) / "src" / "wsfleet_echo" / "server.py"
    assert old in server.read_text()
    server.write_text(server.read_text().replace(old, new))


def active_units(host):
    """Every app unit running or starting on a host: more than its slots mid-surge."""
    return host.check_output(
        f"systemctl list-units --state=active,activating --no-legend --plain '{APP}@*.service'"
    ).splitlines()
