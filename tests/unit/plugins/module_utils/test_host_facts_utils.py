"""What host_facts reads from what the host reports: addresses, the default gateway, Python and
glibc versions, the process manager, instances, the router and whether a switch is under way."""

import json

import pytest
from ansible_collections.wsfleet.deploy.plugins.module_utils.host_facts import (
    addresses,
    default_gateway,
    floating_addresses,
    glibc_version,
    instance_names,
    process_manager,
    python_version,
    running_router,
    supervisor_programs,
    switches,
)


def interface(name, *entries):
    return {
        "ifname": name,
        "addr_info": [
            {"family": family, "local": local, "prefixlen": 24, "scope": scope}
            for family, local, scope in entries
        ],
    }


IP_JSON = json.dumps(
    [
        interface("lo", ("inet", "127.0.0.1", "host"), ("inet6", "::1", "host")),
        interface(
            "eth0",
            ("inet", "10.89.0.5", "global"),
            ("inet6", "fd00::5", "global"),
            ("inet6", "fe80::1", "link"),
        ),
        interface("eth1", ("inet", "192.168.7.2", "global"), ("inet", "10.89.0.5", "global")),
        interface("eth2", ("inet6", "fec0::2", "site")),
        {"ifname": "tun0"},
    ]
)


@pytest.mark.parametrize(
    ("ip_json", "expected"),
    [
        (
            IP_JSON,
            {"ipv4": ["10.89.0.5", "192.168.7.2"], "ipv6": ["fd00::5", "fec0::2"]},
        ),
        ("[]", {"ipv4": [], "ipv6": []}),
        ("", {"ipv4": [], "ipv6": []}),
        (
            json.dumps([interface("lo", ("inet", "127.0.0.1", "host"))]),
            {"ipv4": [], "ipv6": []},
        ),
        (
            # No local address, or a family that is not IP: nothing to reach.
            json.dumps(
                [
                    {"addr_info": [{"family": "inet", "scope": "global"}]},
                    interface("x", ("link", "aa:bb", "global")),
                ]
            ),
            {"ipv4": [], "ipv6": []},
        ),
    ],
    ids=["global-and-site-sorted-unique", "none", "no-output", "loopback-only", "incomplete"],
)
def test_addresses_other_hosts_reach(ip_json, expected):
    assert addresses(ip_json) == expected


# An edge holding one of two floating addresses (keepalived adds them beside its own).
EDGE_JSON = json.dumps(
    [
        interface("lo", ("inet", "127.0.0.1", "host")),
        interface("eth0", ("inet", "10.89.1.2", "global"), ("inet", "10.89.1.192", "global")),
        interface("eth1", ("inet", "10.89.0.7", "global")),
    ]
)


@pytest.mark.parametrize(
    ("floating", "expected"),
    [
        ([], ["10.89.0.7", "10.89.1.192", "10.89.1.2"]),
        (["10.89.1.192/24", "10.89.1.191/24"], ["10.89.0.7", "10.89.1.2"]),
        # Held or not, a floating address is never one of the host's own.
        (["10.89.1.191/24"], ["10.89.0.7", "10.89.1.192", "10.89.1.2"]),
    ],
    ids=["none-floating", "held-one-left-out", "not-held"],
)
def test_floating_addresses_are_not_the_hosts_own(floating, expected):
    assert addresses(EDGE_JSON, floating)["ipv4"] == expected


@pytest.mark.parametrize(
    ("floating", "expected"),
    [
        (
            ["10.89.1.192/24"],
            [
                {
                    "address": "10.89.1.192",
                    "prefix": 24,
                    "interface": "eth0",
                    "source": "10.89.1.2",
                    "held": True,
                }
            ],
        ),
        (
            ["10.89.1.191/24"],
            [
                {
                    "address": "10.89.1.191",
                    "prefix": 24,
                    "interface": "eth0",
                    "source": "10.89.1.2",
                    "held": False,
                }
            ],
        ),
        (
            # On the private network: the other interface speaks for it.
            ["10.89.0.200/24"],
            [
                {
                    "address": "10.89.0.200",
                    "prefix": 24,
                    "interface": "eth1",
                    "source": "10.89.0.7",
                    "held": False,
                }
            ],
        ),
        (
            # No interface in its network: nothing to speak VRRP from.
            ["192.0.2.10/24"],
            [
                {
                    "address": "192.0.2.10",
                    "prefix": 24,
                    "interface": None,
                    "source": None,
                    "held": False,
                }
            ],
        ),
        ([], []),
    ],
    ids=["held", "not-held", "other-interface", "no-interface", "none"],
)
def test_where_each_floating_address_is_spoken_for(floating, expected):
    assert floating_addresses(EDGE_JSON, floating) == expected


ROUTE_HEADER = (
    "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
)


@pytest.mark.parametrize(
    ("routes", "gateway"),
    [
        (
            "eth0\t00000000\t0100590A\t0003\t0\t0\t0\t00000000\t0\t0\t0\n"
            "eth0\t0000590A\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n",
            "10.89.0.1",
        ),
        (
            # The subnet route comes first; the default route is found anyway.
            "eth0\t0000590A\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n"
            "eth0\t00000000\t0101A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n",
            "192.168.1.1",
        ),
        (
            # A default route without the gateway flag (a point-to-point link) has no gateway.
            "tun0\t00000000\t00000000\t0001\t0\t0\t0\t00000000\t0\t0\t0\n",
            None,
        ),
        ("eth0\t0000590A\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n", None),
        ("", None),
    ],
    ids=["default-route", "after-subnet-route", "no-gateway-flag", "no-default-route", "empty"],
)
def test_default_gateway(routes, gateway):
    assert default_gateway(ROUTE_HEADER + routes) == gateway


def test_the_header_line_is_never_a_route():
    assert default_gateway("eth0\t00000000\t0100590A\t0003\t0\t0\t0\t00000000\n") is None


@pytest.mark.parametrize(
    ("output", "version"),
    [
        ("Python 3.11.2\n", "3.11"),
        ("Python 3.9.18", "3.9"),
        ("Python 3.13.0rc1", "3.13"),
        ("", None),
        (None, None),
        ("python: command not found", None),
    ],
    ids=["3.11", "3.9", "pre-release", "empty", "none", "not-python"],
)
def test_python_version(output, version):
    assert python_version(output) == version


@pytest.mark.parametrize(
    ("confstr", "version"),
    [("glibc 2.36", "2.36"), ("glibc 2.31", "2.31"), (None, ""), ("", ""), ("musl 1.2", "")],
    ids=["2.36", "2.31", "none", "empty", "other-libc"],
)
def test_glibc_version(confstr, version):
    assert glibc_version(confstr) == version


@pytest.mark.parametrize(
    ("supervisor_conf", "unit_template", "manager"),
    [
        (True, False, "supervisor"),
        (False, True, "systemd"),
        # A switch to systemd begun: the supervisor file goes last, so it still decides.
        (True, True, "supervisor"),
        (False, False, None),
    ],
    ids=["supervisor", "systemd", "both", "bare-host"],
)
def test_process_manager(supervisor_conf, unit_template, manager):
    assert process_manager(supervisor_conf, unit_template) == manager


@pytest.mark.parametrize(
    ("files", "instances"),
    [
        (["2a.env", "1b.env", "1a.env"], ["1a", "1b", "2a"]),
        (["1a.env", "1a.env.dpkg-old", ".1b.env.swp", "README"], ["1a"]),
        ([], []),
    ],
    ids=["sorted", "only-env-files", "none"],
)
def test_instance_names(files, instances):
    assert instance_names(files) == instances


SUPERVISOR_CONF = """\
[group:echo]
programs=echo_1a,echo_1b

[program:echo_1a]
command=/srv/echo/current/venv/bin/echo
; [program:commented_out]
[program:echo_1b]
command=...
  [program:indented]

[eventlistener:echo_starter]
events=PROCESS_STATE
"""


@pytest.mark.parametrize(
    ("conf", "programs"),
    [
        (SUPERVISOR_CONF, ["echo_1a", "echo_1b", "echo_starter"]),
        ("", []),
        (None, []),
    ],
    ids=["programs-and-listener", "empty", "none"],
)
def test_supervisor_programs(conf, programs):
    assert supervisor_programs(conf) == programs


@pytest.mark.parametrize(
    ("installed", "active", "router"),
    [
        (["nginx"], ["nginx"], "nginx"),
        (["nginx", "haproxy"], ["haproxy"], "haproxy"),
        # Stopped, still installed: it is what the host runs.
        (["haproxy"], [], "haproxy"),
        # A switch left both running: the first looked for.
        (["nginx", "haproxy"], ["nginx", "haproxy"], "nginx"),
        ([], [], None),
    ],
    ids=["one", "the-active-one", "installed-stopped", "both-active", "none"],
)
def test_running_router(installed, active, router):
    assert running_router(installed, active) == router


@pytest.mark.parametrize(
    ("running", "wanted", "expected"),
    [
        ("nginx", "haproxy", True),
        ("nginx", "nginx", False),
        (None, "haproxy", False),
        ("supervisor", None, False),
        (None, None, False),
        ("supervisor", "systemd", True),
    ],
    ids=["switch", "same", "bare-host", "not-said", "nothing", "process-manager"],
)
def test_switches(running, wanted, expected):
    assert switches(running, wanted) is expected
