"""Shared helpers for testinfra checks of a deployed fleet."""

import os

import pytest
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


def hosts_of(group):
    inventory = os.environ["MOLECULE_INVENTORY_FILE"]
    return testinfra.utils.ansible_runner.AnsibleRunner(inventory).get_hosts(group)


@pytest.fixture(scope="module")
def process_count(host):
    """The role's default: one process per CPU, as Ansible counts them."""
    return int(host.check_output("grep -c ^processor /proc/cpuinfo"))
