#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: wsfleet.deploy maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: haproxy_server
short_description: Drain, ready or put in maintenance servers of a running HAProxy, without a reload
version_added: 0.2.0
description:
  - Talks to HAProxy's runtime API (its C(stats socket), C(level admin)) on the host it runs on.
  - Puts the servers of O(backend) named in O(servers), or all of them, in state O(state), and
    changes only those in another state. A drained server gets no new connection and keeps the
    ones it has; a server in maintenance gets none either, and its health checks stop.
  - A state set here lasts until the next one; the M(wsfleet.deploy.haproxy) role saves the
    states before every reload, so a reload keeps them.
author:
  - wsfleet.deploy maintainers (!UNKNOWN)
options:
  backend:
    description: The backend whose servers change.
    type: str
    required: true
  servers:
    description:
      - Names of the servers to change. Empty, every server of O(backend).
      - A name the backend does not have fails the task.
    type: list
    elements: str
    default: []
  state:
    description: The state to put them in.
    type: str
    choices: [ready, drain, maint]
    required: true
  socket:
    description: Path of HAProxy's runtime API socket.
    type: path
    default: /run/haproxy/admin.sock
  wait_until_up:
    description:
      - Seconds to wait, after the change, until HAProxy's health checks see every server asked
        for up; the task fails naming those still not up then. V(0) does not wait.
      - For O(state=ready) after a server's host was away, so that the next host is not taken
        out before this one serves again.
    type: float
    default: 0
attributes:
  check_mode:
    description: Can run in check mode and report what would change without changing it.
    support: full
  diff_mode:
    description: Not supported.
    support: none
"""

EXAMPLES = r"""
- name: Take app1 out of the edge for maintenance, keeping its open WebSockets
  wsfleet.deploy.haproxy_server:
    backend: wsfleet_edge
    servers: [app1]
    state: drain
  delegate_to: "{{ item }}"
  loop: "{{ groups['edge'] }}"

- name: Back into service, once the edge's health checks see it up again
  wsfleet.deploy.haproxy_server:
    backend: wsfleet_edge
    servers: [app1]
    state: ready
    wait_until_up: 60
"""

RETURN = r"""
servers:
  description: Every server of O(backend) that was asked for, with its state before and after.
  returned: always
  type: list
  elements: dict
  contains:
    server:
      description: Server name.
      type: str
    before:
      description: Its state before (ready, drain or maint).
      type: str
    after:
      description: Its state after (in check mode, what it would be).
      type: str
    health:
      description: What its health checks say (up, down, starting, stopping), after the wait if any.
      type: str
    sessions:
      description: Connections it holds now.
      type: int
  sample:
    - {server: app1, before: ready, after: drain, health: up, sessions: 412}
"""

import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.wsfleet.deploy.plugins.module_utils.haproxy_runtime import (
    RuntimeApiError,
    STATES,
    ask,
    asked_for,
    not_up,
    parse_servers_state,
    parse_sessions,
    plan_state_changes,
    state_command,
)


def report(servers, backend, names, wanted, changing, sessions, health):
    """One row per server asked for; sessions maps (backend, server) to its connections,
    health each server to what its checks say now."""
    return [
        {
            "server": server["server"],
            "before": server["state"],
            "after": wanted if server in changing else server["state"],
            "health": health.get(server["server"], server["health"]),
            "sessions": sessions.get((backend, server["server"]), 0),
        }
        for server in asked_for(servers, backend, names)
    ]


def wait_until_up(path, backend, names, timeout, poll=0.5):
    """The servers' rows once health checks see them all up, or when timeout runs out."""
    deadline = time.monotonic() + timeout
    while True:
        servers = parse_servers_state(ask(path, "show servers state %s" % backend))
        if not not_up(servers, backend, names) or time.monotonic() >= deadline:
            return servers
        time.sleep(poll)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            backend=dict(type="str", required=True),
            servers=dict(type="list", elements="str", default=[]),
            state=dict(type="str", choices=list(STATES), required=True),
            socket=dict(type="path", default="/run/haproxy/admin.sock"),
            wait_until_up=dict(type="float", default=0),
        ),
        supports_check_mode=True,
    )
    backend, names = module.params["backend"], module.params["servers"]
    wanted, path = module.params["state"], module.params["socket"]
    try:
        servers = parse_servers_state(ask(path, "show servers state %s" % backend))
        changing = plan_state_changes(servers, backend, names, wanted)
        if not module.check_mode:
            for server in changing:
                answer = ask(path, state_command(backend, server["server"], wanted)).strip()
                if answer:
                    command = state_command(backend, server["server"], wanted)
                    module.fail_json(msg="HAProxy refused %s: %s" % (command, answer))
        waited = module.params["wait_until_up"] if not module.check_mode else 0
        now = wait_until_up(path, backend, names, waited) if waited > 0 else servers
        sessions = parse_sessions(ask(path, "show stat"))
    except (RuntimeApiError, ValueError) as error:
        module.fail_json(msg=str(error))
    health = dict((row["server"], row["health"]) for row in now if row["backend"] == backend)
    rows = report(servers, backend, names, wanted, changing, sessions, health)
    down = not_up(now, backend, names) if waited > 0 else []
    if down:
        module.fail_json(
            msg="%s/%s not up after %s s of health checks" % (backend, ",".join(down), waited),
            changed=bool(changing),
            servers=rows,
        )
    module.exit_json(changed=bool(changing), servers=rows)


if __name__ == "__main__":
    main()
