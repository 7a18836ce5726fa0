#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: wsfleet.deploy maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: websocket_capacity
short_description: Step WebSocket connections up against one app process until it saturates
version_added: 0.2.0
description:
  - "Runs a load generator on the host it runs on (the controller, delegated): WebSocket
    clients in O(generator_processes) worker processes, each sending O(message_size) bytes
    (or O(request)) at O(messages_per_second) and timing the answer."
  - "Steps the connections held from O(start) by O(factor) up to O(max_connections). At each
    step it waits O(settle_seconds), then measures for O(window_seconds): the round trips
    (p50, p99), the messages answered, the failed handshakes, and from the process's
    Prometheus metrics at O(metrics_url) its CPU, event-loop lag and memory per connection."
  - "Stops at the first step that meets a criterion of O(limits): the process is saturated,
    and the step before is the knee. Stops too when a generator process uses
    O(generator_cpu_limit) of a core: the figures would be the generator's, and the result is
    marked invalid."
  - From the knee it recommends the cap per process and the hosts for O(target_connections).
  - Changes nothing on any host; in check mode it returns the plan and measures nothing.
author:
  - wsfleet.deploy maintainers (!UNKNOWN)
requirements:
  - websockets 14 or later on the host it runs on.
options:
  url:
    description: The WebSocket URL of the one process, such as C(ws://app1:9180/slots/1/).
    type: str
    required: true
  metrics_url:
    description: The process's Prometheus metrics, such as C(http://app1:9180/slots/1/metrics).
    type: str
    required: true
  messages_per_second:
    description: Messages each connection sends per second (0.1 is one every 10 s).
    type: float
    default: 1.0
  message_size:
    description: Bytes of each message (ignored with O(request)).
    type: int
    default: 64
  compression:
    description: Negotiate permessage-deflate, as browsers do.
    type: bool
    default: false
  request:
    description:
      - The text each message carries instead of random letters, for an app that answers it
        with work.
    type: str
  start:
    description: Connections held at the first step.
    type: int
    default: 100
  factor:
    description: Each step holds this many times the connections of the step before.
    type: float
    default: 1.5
  max_connections:
    description: The last step's connections, at most.
    type: int
    default: 20000
  settle_seconds:
    description: Seconds between reaching a step's connections and measuring.
    type: float
    default: 5
  window_seconds:
    description: Seconds each step is measured.
    type: float
    default: 15
  generator_processes:
    description: Worker processes of the generator; more when one reaches O(generator_cpu_limit).
    type: int
    default: 2
  generator_cpu_limit:
    description: A generator process using this share of a core makes the result invalid.
    type: float
    default: 0.85
  limits:
    description:
      - When the process is saturated; the first step meeting any of them ends the stepping.
    type: dict
    default: {}
    suboptions:
      cpu_cores:
        description: The process's CPU, in cores.
        type: float
        default: 0.9
      p99_ms:
        description: The 99th percentile of the round trips, in milliseconds.
        type: float
        default: 50
      lag_seconds:
        description: How late the process's event loop woke (C(wsfleet_app_event_loop_lag_seconds)).
        type: float
        default: 0.1
      failed_handshakes:
        description: Handshakes refused or timed out during a step, more than this many.
        type: int
        default: 0
  headroom:
    description: Share of the knee a process is kept below, in the recommendation.
    type: float
    default: 0.3
  processes_per_host:
    description: Processes per app host, in the recommendation (one per core).
    type: int
    required: true
  target_connections:
    description: Connections the recommended fleet holds.
    type: int
    default: 100000
  spare_hosts:
    description: Hosts added to what the target needs, so that losing them loses no capacity.
    type: int
    default: 1
attributes:
  check_mode:
    description: Returns the plan; opens no connection.
    support: full
  diff_mode:
    description: Nothing to show.
    support: none
"""

EXAMPLES = r"""
- name: Measure process 1 of app1 through its router, from the controller
  wsfleet.deploy.websocket_capacity:
    url: ws://app1.example.com:9180/slots/1/
    metrics_url: http://app1.example.com:9180/slots/1/metrics
    messages_per_second: 1
    processes_per_host: 4
  delegate_to: localhost
"""

RETURN = r"""
plan:
  description: The connection counts of the steps planned.
  returned: always
  type: list
  elements: int
steps:
  description:
    - Each step measured, in order - connections, process_connections, messages_per_second,
      p50_ms, p99_ms, process_cpu_cores, event_loop_lag_seconds, memory_per_connection_bytes,
      failed_handshakes, generator_cpu_cores (one per generator process),
      generator_host_busy_cores (of the whole generator host, whatever runs there),
      saturated_by.
  returned: success
  type: list
  elements: dict
result:
  description:
    - valid, reason (saturated, saturated_at_first_step, generator_saturated, not_saturated),
      saturated_by (the criteria the first saturated step met), knee and first_saturated (steps).
  returned: success
  type: dict
generator_host_cpus:
  description: The CPUs of the generator's host, which generator_host_busy_cores is out of.
  returned: success
  type: int
recommendation:
  description:
    - From the knee - max_connections_per_process, processes_per_host, connections_per_host,
      hosts_for_target, spare_hosts, hosts, target_connections, headroom. None unless the
      result is valid.
  returned: success
  type: dict
"""

import time
import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible.module_utils.urls import open_url
from ansible_collections.wsfleet.deploy.plugins.module_utils import capacity
from ansible_collections.wsfleet.deploy.plugins.module_utils.load_generator import (
    HAS_WEBSOCKETS,
    WEBSOCKETS_IMPORT_ERROR,
    Generator,
    Profile,
    host_cpu_times,
)

METRICS = (
    "process_cpu_seconds_total",
    "process_resident_memory_bytes",
    "wsfleet_app_open_connections",
    "wsfleet_app_event_loop_lag_seconds",
)
LIMITS = dict(
    cpu_cores=dict(type="float", default=0.9),
    p99_ms=dict(type="float", default=50),
    lag_seconds=dict(type="float", default=0.1),
    failed_handshakes=dict(type="int", default=0),
)


def read_metrics(module):
    url = module.params["metrics_url"]
    try:
        text = open_url(url, timeout=10).read().decode()
    except Exception as exc:  # pylint: disable=broad-except
        module.fail_json(msg="cannot read the process's metrics at %s: %s" % (url, exc))
    found = capacity.prometheus_values(text, METRICS)
    missing = [name for name in METRICS[:2] if name not in found]
    if missing:
        module.fail_json(msg="%s has no %s" % (url, ", ".join(missing)))
    return found


def measure(module, generator, plan):
    """Step up until the process or the generator saturates; each step's figures."""
    params = module.params
    limits = params["limits"]
    baseline = read_metrics(module)
    steps, failed_before = [], 0
    for connections in plan:
        failed = sum(answer["failed_handshakes"] for answer in generator.hold(connections))
        time.sleep(params["settle_seconds"])
        before, started, host_before = read_metrics(module), time.monotonic(), host_cpu_times()
        windows = generator.measure(params["window_seconds"])
        after, seconds = read_metrics(module), time.monotonic() - started
        step = capacity.step_figures(
            connections, failed - failed_before, windows, before, after, seconds, baseline
        )
        step["generator_host_busy_cores"] = capacity.busy_cores(host_before, host_cpu_times())
        failed_before = failed
        step["saturated_by"] = capacity.saturated_by(step, limits)
        steps.append(step)
        if capacity.verdict(step, limits, params["generator_cpu_limit"]) != "next":
            break
    return steps


def main():
    module = AnsibleModule(
        argument_spec=dict(
            url=dict(type="str", required=True),
            metrics_url=dict(type="str", required=True),
            messages_per_second=dict(type="float", default=1.0),
            message_size=dict(type="int", default=64),
            compression=dict(type="bool", default=False),
            request=dict(type="str"),
            start=dict(type="int", default=100),
            factor=dict(type="float", default=1.5),
            max_connections=dict(type="int", default=20000),
            settle_seconds=dict(type="float", default=5),
            window_seconds=dict(type="float", default=15),
            generator_processes=dict(type="int", default=2),
            generator_cpu_limit=dict(type="float", default=0.85),
            limits=dict(type="dict", default={}, options=LIMITS),
            headroom=dict(type="float", default=0.3),
            processes_per_host=dict(type="int", required=True),
            target_connections=dict(type="int", default=100000),
            spare_hosts=dict(type="int", default=1),
        ),
        supports_check_mode=True,
    )
    params = module.params
    try:
        plan = capacity.step_plan(params["start"], params["factor"], params["max_connections"])
    except ValueError as exc:
        module.fail_json(msg="start, factor, max_connections: %s" % exc)
    if module.check_mode:
        module.exit_json(changed=False, plan=plan)
    if not HAS_WEBSOCKETS:
        module.fail_json(msg=missing_required_lib("websockets"), exception=WEBSOCKETS_IMPORT_ERROR)
    profile = Profile(
        params["url"],
        params["messages_per_second"],
        params["message_size"],
        params["compression"],
        params["request"],
    )
    generator = Generator(profile, params["generator_processes"])
    try:
        steps = measure(module, generator, plan)
    except Exception:  # pylint: disable=broad-except
        module.fail_json(msg="the measurement failed", exception=traceback.format_exc())
    finally:
        generator.stop()
    result = capacity.knee(steps, params["limits"], params["generator_cpu_limit"])
    # Only a knee the process reached is a capacity: one the generator or the plan ended
    # before is a lower bound at best.
    recommendation = None
    if result["valid"]:
        recommendation = capacity.recommendation(
            result["knee"]["connections"],
            params["headroom"],
            params["processes_per_host"],
            params["target_connections"],
            params["spare_hosts"],
        )
    module.exit_json(
        changed=False,
        plan=plan,
        steps=steps,
        result=result,
        recommendation=recommendation,
        generator_host_cpus=host_cpu_times()[2],
    )


if __name__ == "__main__":
    main()
