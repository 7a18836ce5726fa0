"""What every scenario's testinfra checks share: paths of the deployed example app and small
scripts that run inside its virtualenv on a host."""

import json
import os
import re
import shutil
from pathlib import Path

import testinfra.utils.ansible_runner

APP = "echo"
BASE_DIR = f"/srv/{APP}"
CONFIG_DIR = f"/etc/{APP}"
RUNTIME_DIR = f"/run/{APP}"
VENV_PYTHON = f"{BASE_DIR}/current/venv/bin/python"

# Run inside the app's own virtualenv on the host: a GET /healthz over one unix socket.
HEALTHZ_OVER_UNIX_SOCKET = """
import http.client, json, socket, sys
class UnixHTTPConnection(http.client.HTTPConnection):
    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.settimeout(5)
        self.sock.connect(sys.argv[1])
connection = UnixHTTPConnection("localhost")
connection.request("GET", "/healthz")
response = connection.getresponse()
print(json.dumps({"status": response.status, "body": json.loads(response.read())}))
"""

# A real WebSocket handshake on one unix socket, a ping/pong, and an echo.
WEBSOCKET_OVER_UNIX_SOCKET = """
import sys
from websockets.sync.client import unix_connect
with unix_connect(sys.argv[1], uri="ws://localhost/", open_timeout=5) as websocket:
    websocket.ping().wait(5)
    websocket.send("ping through " + sys.argv[1])
    print(websocket.recv(timeout=5))
"""


# A process's systemd unit: slot N runs as <app>@Na or <app>@Nb (the other side is a surge
# successor for a moment during a rollout).
UNIT = re.compile(rf"^({APP}@(\d+)[ab])\.service$")


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


def main_pid(host, slot):
    """Main PID of the process serving a slot; 0 while none does."""
    unit = live_units(host).get(slot)
    if unit is None:
        return 0
    return int(host.check_output(f"systemctl show -p MainPID --value {unit}"))


def hosts_of(group):
    inventory = os.environ["MOLECULE_INVENTORY_FILE"]
    return testinfra.utils.ansible_runner.AnsibleRunner(inventory).get_hosts(group)


def healthz(host, socket_path):
    """GET /healthz on one process's unix socket, from inside the host."""
    return json.loads(
        host.check_output(f"{VENV_PYTHON} -c '{HEALTHZ_OVER_UNIX_SOCKET}' {socket_path}")
    )


def current_release(host):
    return host.file(f"{BASE_DIR}/current").linked_to.split("/")[-1]


def example_app_at_version(tmp_path_factory, version):
    """A copy of the example app whose package has another version: a new release to deploy."""
    source = tmp_path_factory.mktemp(f"app-{version}")
    project = Path(os.environ["MOLECULE_PROJECT_DIRECTORY"])
    shutil.copytree(project / "examples" / "echo_app", source, dirs_exist_ok=True)
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
