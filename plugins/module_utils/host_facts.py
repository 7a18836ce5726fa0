# -*- coding: utf-8 -*-
# Copyright: wsfleet.deploy maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Reading what a host is and what it runs now, from what the system reports: pure parsers of
`ip -j addr`, /proc/net/route, `python --version` and the app's files, tested by tables."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import json
import re
import socket
import struct

SYSTEMD = "systemd"
SUPERVISOR = "supervisor"


def _global_entries(ip_json):
    """(interface, family, address, prefix) of every global or site address in `ip -j addr`
    output: not loopback, not link-local (neither is how another host reaches this one)."""
    for interface in json.loads(ip_json or "[]"):
        for entry in interface.get("addr_info", []):
            family = {"inet": "ipv4", "inet6": "ipv6"}.get(entry.get("family"))
            if family and entry.get("local") and entry.get("scope") in ("global", "site"):
                yield interface.get("ifname"), family, entry["local"], entry.get("prefixlen")


def addresses(ip_json, floating=()):
    """{ipv4: [...], ipv6: [...]} of the host's own addresses: the floating ones (which move
    between hosts, such as keepalived's) are left out, whoever holds them now."""
    moving = set(address.split("/")[0] for address in floating)
    found = {"ipv4": [], "ipv6": []}
    for _interface, family, address, _prefix in _global_entries(ip_json):
        if address not in moving:
            found[family].append(address)
    return dict((family, sorted(set(values))) for family, values in found.items())


def floating_addresses(ip_json, floating):
    """For each floating address ('192.0.2.10/24'): the interface whose own address is in its
    network and that own address (where VRRP is spoken from), and whether this host holds it
    now. interface and source are None when no interface of the host is in that network."""
    entries = list(_global_entries(ip_json))
    found = []
    for wanted in floating:
        network = ipaddress.ip_interface(wanted).network
        address = str(ipaddress.ip_interface(wanted).ip)
        own = [
            (interface, local)
            for interface, _family, local, _prefix in entries
            if local != address and ipaddress.ip_address(local) in network
        ]
        found.append(
            dict(
                address=address,
                prefix=network.prefixlen,
                interface=own[0][0] if own else None,
                source=own[0][1] if own else None,
                held=any(local == address for _i, _f, local, _p in entries),
            )
        )
    return found


def default_gateway(proc_net_route):
    """The IPv4 default route's gateway from /proc/net/route, or None."""
    for line in proc_net_route.splitlines()[1:]:
        fields = line.split()
        if len(fields) > 3 and fields[1] == "00000000" and int(fields[3], 16) & 0x2:
            return socket.inet_ntoa(struct.pack("<I", int(fields[2], 16)))
    return None


def python_version(version_output):
    """'3.11' from `python --version` ('Python 3.11.2'), or None."""
    match = re.search(r"Python (\d+)\.(\d+)", version_output or "")
    return "%s.%s" % match.groups() if match else None


def glibc_version(confstr_value):
    """'2.36' from os.confstr('CS_GNU_LIBC_VERSION') ('glibc 2.36'), or '' without glibc."""
    parts = (confstr_value or "").split()
    return parts[1] if len(parts) == 2 and parts[0] == "glibc" else ""


def process_manager(supervisor_conf_exists, unit_template_exists):
    """The process manager that runs the app here: supervisor has its programs' file, systemd
    its template unit; None on a host the app has never reached."""
    if supervisor_conf_exists:
        return SUPERVISOR
    if unit_template_exists:
        return SYSTEMD
    return None


def instance_names(filenames):
    """The process instances (<slot><side>, such as 1a) that have settings, sorted."""
    return sorted(name[: -len(".env")] for name in filenames if name.endswith(".env"))


def running_router(installed, active):
    """The router this host runs now: the active one (the first, if a switch left two), else
    the installed one, else None."""
    for candidates in (active, installed):
        if candidates:
            return candidates[0]
    return None


def supervisor_programs(conf_text):
    """The programs and event listeners a supervisor configuration file declares, in order."""
    return re.findall(r"(?m)^\[(?:program|eventlistener):([^\]]+)\]", conf_text or "")


def switches(running, wanted):
    """Whether a host that runs `running` (None: nothing yet) changes to `wanted` (None: not
    said): a bare host is installed, not switched."""
    return running is not None and wanted is not None and running != wanted
