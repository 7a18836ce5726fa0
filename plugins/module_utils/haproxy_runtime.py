# -*- coding: utf-8 -*-
# Copyright: wsfleet.deploy maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""HAProxy's runtime API: reading servers' states and sessions, and commands that change them."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import socket

# srv_admin_state bits (HAProxy's SRV_ADMF_*): forced by an operator, or inherited.
FORCED_MAINT = 0x01
INHERITED_MAINT = 0x02
CONFIG_MAINT = 0x04
FORCED_DRAIN = 0x08
INHERITED_DRAIN = 0x10
STATES = ("ready", "drain", "maint")
# srv_op_state: 0 stopped (down), 1 starting, 2 running (up), 3 stopping.
OPERATIONAL = {0: "down", 1: "starting", 2: "up", 3: "stopping"}


class RuntimeApiError(Exception):
    """HAProxy refused a command or could not be reached."""


def columns(header, fields):
    """A row by column name; a short row (HAProxy leaves trailing fields out) has fewer."""
    return dict((name, fields[index]) for index, name in enumerate(header) if index < len(fields))


def admin_state(bits):
    """The state an operator sees: maint wins over drain, drain over ready."""
    if bits & (FORCED_MAINT | INHERITED_MAINT | CONFIG_MAINT):
        return "maint"
    if bits & (FORCED_DRAIN | INHERITED_DRAIN):
        return "drain"
    return "ready"


def parse_servers_state(text):
    """Rows of 'show servers state' as dicts: backend, server, address, state, health."""
    lines = [line for line in text.splitlines() if line.strip()]
    header = None
    servers = []
    for line in lines:
        if line.startswith("#"):
            header = line.lstrip("# ").split()
            continue
        if header is None:
            continue  # the format version line comes first
        row = columns(header, line.split())
        if "srv_name" not in row:
            continue
        servers.append(
            {
                "backend": row["be_name"],
                "server": row["srv_name"],
                "address": row.get("srv_addr", ""),
                "state": admin_state(int(row.get("srv_admin_state", "0"))),
                "health": OPERATIONAL.get(int(row.get("srv_op_state", "0")), "unknown"),
            }
        )
    return servers


def parse_sessions(csv_text):
    """Current sessions per (backend, server) from 'show stat' CSV."""
    lines = csv_text.splitlines()
    if not lines or not lines[0].startswith("#"):
        return {}
    header = lines[0].lstrip("# ").split(",")
    sessions = {}
    for line in lines[1:]:
        if not line.strip():
            continue
        row = columns(header, line.split(","))
        if row.get("svname") in ("FRONTEND", "BACKEND", None):
            continue
        sessions[(row["pxname"], row["svname"])] = int(row.get("scur") or 0)
    return sessions


def plan_state_changes(servers, backend, names, wanted):
    """The servers of backend (all, or those named) whose state differs from wanted.

    Raises ValueError for a backend or server HAProxy does not have, so a typo fails loudly
    instead of changing nothing.
    """
    in_backend = [server for server in servers if server["backend"] == backend]
    if not in_backend:
        raise ValueError("HAProxy has no backend %s" % backend)
    known = set(server["server"] for server in in_backend)
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ValueError(
            "backend %s has no server %s (it has %s)"
            % (backend, ", ".join(unknown), ", ".join(sorted(known)))
        )
    return [server for server in asked_for(servers, backend, names) if server["state"] != wanted]


def asked_for(servers, backend, names):
    """The rows of the servers of backend that a task names, or all of them when it names none."""
    return [
        server
        for server in servers
        if server["backend"] == backend and (not names or server["server"] in names)
    ]


def not_up(servers, backend, names):
    """Names of the servers of backend (all, or those named) that health checks do not see up."""
    return [
        server["server"]
        for server in asked_for(servers, backend, names)
        if server["health"] != "up"
    ]


def state_command(backend, server, state):
    return "set server %s/%s state %s" % (backend, server, state)


def ask(socket_path, command, timeout=5.0):
    """Send one command to the runtime API socket and return its whole answer."""
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    connection.settimeout(timeout)
    try:
        connection.connect(socket_path)
        connection.sendall((command + "\n").encode())
        chunks = []
        while True:
            chunk = connection.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    except (OSError, socket.error) as error:
        raise RuntimeApiError("HAProxy's runtime API at %s: %s" % (socket_path, error)) from error
    finally:
        connection.close()
    return b"".join(chunks).decode("utf-8", "replace")
