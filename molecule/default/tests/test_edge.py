"""The edge after site.yml: a real client on the controller gets its echo through it."""

import json
import re
import urllib.request

from fleet_checks import hosts_of
from websockets.sync.client import connect

testinfra_hosts = hosts_of("edge")


def edge_address(host):
    return host.ansible.get_variables()["ansible_host"]


def test_edge_nginx_balances_every_app_host(host):
    assert host.run("nginx -t").rc == 0
    config = host.file("/etc/nginx/nginx.conf").content_string
    app_hosts = hosts_of("app")
    servers = re.findall(r"^\s*server (\S+) max_fails=0;$", config, flags=re.MULTILINE)
    assert len(servers) == len(app_hosts)
    assert all(server.endswith(":80") for server in servers)


def test_websocket_echo_through_the_edge(host):
    with connect(f"ws://{edge_address(host)}/", open_timeout=10) as websocket:
        for number in range(20):
            websocket.send(f"message {number}")
            assert websocket.recv(timeout=10) == f"message {number}"


def test_healthz_through_the_edge(host):
    with urllib.request.urlopen(f"http://{edge_address(host)}/healthz", timeout=10) as response:
        assert response.status == 200
        health = json.load(response)
    assert health["status"] == "ok"
    assert health["version"] == "1.0.0"


def test_edge_hides_the_nginx_version(host):
    with urllib.request.urlopen(f"http://{edge_address(host)}/healthz", timeout=10) as response:
        assert response.headers["Server"] == "nginx"
