#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: wsfleet.deploy maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: router_connections
short_description: Wait until a router holds no client connection on its ports
version_added: 0.2.0
description:
  - "Counts the established TCP connections whose local port is one of O(ports) and that a
    process named O(router) holds (from C(ss -Htnp state established)), until none is left or
    O(timeout) seconds have passed. Used when an edge changes router: the old one, its
    listeners parked, keeps its WebSockets until the app closes them; it is removed once it
    holds none."
  - Changes nothing.
author:
  - wsfleet.deploy maintainers (!UNKNOWN)
options:
  router:
    description: The name of the router's processes, such as C(nginx) or C(haproxy).
    type: str
    required: true
  ports:
    description: The local ports of its client connections.
    type: list
    elements: int
    required: true
  timeout:
    description: Seconds to wait at most; 0 counts once.
    type: float
    default: 0
  ignored_addresses:
    description:
      - Local addresses whose connections are not counted, such as floating addresses an edge
        gave away, whose clients reach another edge now.
    type: list
    elements: str
    default: []
attributes:
  check_mode:
    description: Counts in check mode too.
    support: full
  diff_mode:
    description: Nothing to show.
    support: none
"""

EXAMPLES = r"""
- name: Wait until the old NGINX holds no WebSocket
  wsfleet.deploy.router_connections:
    router: nginx
    ports: [80, 443]
    timeout: 120
"""

RETURN = r"""
connections:
  description: The client connections it still held at the end.
  returned: always
  type: int
  sample: 0
waited:
  description: Seconds waited.
  returned: always
  type: float
"""

import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.wsfleet.deploy.plugins.module_utils.router_connections import (
    client_connections,
)

POLL_SECONDS = 0.5


def count(module):
    rc, out, err = module.run_command(["ss", "-Htnp", "state", "established"])
    if rc != 0:
        module.fail_json(msg="ss failed: %s" % err.strip())
    params = module.params
    return client_connections(out, params["ports"], params["router"], params["ignored_addresses"])


def main():
    module = AnsibleModule(
        argument_spec=dict(
            router=dict(type="str", required=True),
            ports=dict(type="list", elements="int", required=True),
            timeout=dict(type="float", default=0),
            ignored_addresses=dict(type="list", elements="str", default=[]),
        ),
        supports_check_mode=True,
    )
    started = time.monotonic()
    deadline = started + module.params["timeout"]
    connections = count(module)
    while connections and time.monotonic() < deadline:
        time.sleep(POLL_SECONDS)
        connections = count(module)
    module.exit_json(
        changed=False, connections=connections, waited=round(time.monotonic() - started, 1)
    )


if __name__ == "__main__":
    main()
