# -*- coding: utf-8 -*-
# Copyright: wsfleet.deploy maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Surge replacement on TCP ports: each process slot's port, as a NAT map to a side's port.

With unix sockets a slot's address is a symlink renamed over to the live side's socket. A TCP
port cannot be renamed, so the router keeps connecting to the slot's port and an nftables
table of the app's own rewrites each new local connection to the port of the side that serves
the slot now. Changing one map element is one atomic transaction; connections already open keep
the address they were given (conntrack holds it), so the old process keeps its clients until it
closes them.

Pure text in, text out: app_rollout runs nft with it, and the unit tests read it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import re

from ansible_collections.wsfleet.deploy.plugins.module_utils.rollout import SIDES

MAP = "slots"


def table_name(app):
    """The app's own nftables table (identifiers allow letters, digits and underscores)."""
    return "wsfleet_%s_slots" % re.sub(r"[^A-Za-z0-9_]", "_", app)


def side_port(side_port_base, slot, side):
    """Side a and b of slot N listen on two ports of their own, side a first."""
    return side_port_base + 2 * (slot - 1) + SIDES.index(side)


def render(app, address, mapping):
    """The whole table, replaced in one transaction: mapping is {slot port: side port}.

    address is where the processes listen (a wildcard already turned into loopback): only
    connections to it on a slot's port are rewritten, to the same address.
    """
    table = table_name(app)
    family, target = ("ip6", "[%s]" % address.strip("[]")) if ":" in address else ("ip", address)
    elements = ", ".join("%d : %d" % (port, mapping[port]) for port in sorted(mapping))
    lines = [
        "# Written by wsfleet.deploy (app_rollout): the port of the process that serves each",
        "# slot of %s. Loaded at boot by %s-slot-ports.service." % (app, app),
        "table inet %s" % table,
        "delete table inet %s" % table,
        "",
        "table inet %s {" % table,
        "    map %s {" % MAP,
        "        type inet_service : inet_service",
    ]
    if elements:
        lines.append("        elements = { %s }" % elements)
    lines += [
        "    }",
        "",
        "    chain output {",
        "        type nat hook output priority -100; policy accept;",
        "        %s daddr %s tcp dport @%s dnat %s to %s:tcp dport map @%s"
        % (family, address.strip("[]"), MAP, family, target, MAP),
        "    }",
        "}",
    ]
    return "\n".join(lines) + "\n"


def parse_map(nft_json):
    """{slot port: side port} from `nft -j list map inet <table> slots`."""
    for item in json.loads(nft_json).get("nftables", []):
        if "map" in item:
            return dict((int(key), int(value)) for key, value in item["map"].get("elem", []))
    return {}
