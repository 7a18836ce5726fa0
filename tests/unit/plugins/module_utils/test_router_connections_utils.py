"""Counting the client connections a router's processes hold, from `ss -Htnp state established`
(one state asked: ss prints no State column)."""

import pytest
from ansible_collections.wsfleet.deploy.plugins.module_utils.router_connections import (
    client_connections,
    local_port,
)

SS = """\
0 0 10.89.0.5:443 203.0.113.7:50966 users:(("nginx",pid=2431,fd=12),("nginx",pid=2430,fd=12))
0      0      10.89.0.5:443     203.0.113.8:50967  users:(("nginx",pid=2432,fd=14))
0      0      [::ffff:10.89.0.5]:80 [::ffff:203.0.113.9]:40000 users:(("nginx",pid=2431,fd=20))
0      0      [fd00::5]:443     [fd00::9]:51000    users:(("haproxy",pid=3100,fd=31))
0      0      10.89.0.5:50000   10.89.0.6:8001     users:(("nginx",pid=2431,fd=30))
0      0      10.89.0.5:22      10.89.0.1:58172    users:(("sshd",pid=99,fd=4))
0      0      127.0.0.1:8443    127.0.0.1:40001    users:(("nginx-debug",pid=77,fd=3))
0      0      10.89.0.5:443     203.0.113.10:50968
"""


@pytest.mark.parametrize(
    ("ports", "process", "count"),
    [
        ([443], "nginx", 2),
        ([80, 443], "nginx", 3),
        ([443], "haproxy", 1),
        ([80], "haproxy", 0),
        # Its upstream connections use its local ephemeral ports: not its clients.
        ([8001], "nginx", 0),
        ([22], "nginx", 0),
        ([8443], "nginx", 0),
        ([], "nginx", 0),
    ],
    ids=[
        "one-port",
        "both-ports-v4-mapped",
        "ipv6",
        "other-router-port",
        "upstream-not-counted",
        "other-process",
        "name-prefix-is-another-process",
        "no-ports",
    ],
)
def test_client_connections(ports, process, count):
    assert client_connections(SS, ports, process) == count


@pytest.mark.parametrize(
    ("ignored", "count"),
    [
        ([], 3),
        (["10.89.0.5"], 1),
        # An IPv4-mapped local address is that address as ss prints it, brackets left out.
        (["::ffff:10.89.0.5"], 2),
        (["10.89.0.5", "::ffff:10.89.0.5"], 0),
        (["10.89.0.99"], 3),
    ],
    ids=["none-ignored", "floating-v4", "v4-mapped", "both", "other-address"],
)
def test_connections_to_ignored_addresses_are_not_counted(ignored, count):
    assert client_connections(SS, [80, 443], "nginx", ignored) == count


def test_nothing_established_counts_nothing():
    assert client_connections("", [80, 443], "nginx") == 0


@pytest.mark.parametrize(
    ("address", "port"),
    [
        ("10.0.0.1:443", 443),
        ("[::1]:443", 443),
        ("[::ffff:10.0.0.1]:80", 80),
        ("*:80", 80),
        ("10.0.0.1%eth0:8080", 8080),
        ("10.0.0.1:*", None),
        ("443", None),
        (":443", None),
    ],
    ids=["ipv4", "ipv6", "v4-mapped", "any", "scoped", "no-port", "no-host", "empty-host"],
)
def test_local_port(address, port):
    assert local_port(address) == port
