# -*- coding: utf-8 -*-
# Copyright: wsfleet.deploy maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The health gate of a rollout (app_rollout): each process tried on its own address with the
probe of websocket_probe (health check, then the app's WebSocket check: a handshake at its path
with its headers and subprotocols, a ping, and the message it sends and expects), and the
connections it reports before it is replaced."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible_collections.wsfleet.deploy.plugins.module_utils.rollout import GateResult
from ansible_collections.wsfleet.deploy.plugins.module_utils.websocket_probe import (
    ProbeError,
    check_health,
    check_path_problem,
    header_texts,
    message_text,
    pattern_problem,
    probe_once,
    probe_with_retries,
)


# The gate's options, as app_rollout takes them (documented once, in the doc fragment
# wsfleet.deploy.health_gate).
GATE_OPTIONS = dict(
    health_path=dict(type="str", default="/healthz"),
    health_retries=dict(type="int", default=120),
    health_delay=dict(type="float", default=0.25),
    health_timeout=dict(type="float", default=5.0),
    check_path=dict(type="str", default="/"),
    check_headers=dict(type="dict", default={}, no_log=True),
    check_subprotocols=dict(type="list", elements="str", default=[]),
    check_send=dict(type="raw"),
    check_expect=dict(type="str"),
)


def gate_problems(params):
    """What is wrong with the gate's options, each message naming its option."""
    problems = []
    problem = check_path_problem(params["check_path"])
    if problem:
        problems.append("check_path %s" % problem)
    problem = params["check_expect"] is not None and pattern_problem(params["check_expect"])
    if problem:
        problems.append("check_expect %s" % problem)
    return problems


def gate_from_options(params, addresses):
    """The Probe the gate options describe, trying each process at addresses."""
    check = WebSocketCheck(
        params["check_path"],
        header_texts(params["check_headers"]),
        params["check_subprotocols"],
        message_text(params["check_send"]),
        params["check_expect"],
    )
    return Probe(
        addresses,
        params["health_path"],
        params["health_retries"],
        params["health_delay"],
        params["health_timeout"],
        check=check,
    )


def backoff(delay, first=0.02):
    """Waits between gate attempts: short at first, since most processes are ready within a
    fraction of a second, doubling up to delay."""
    wait = first
    while True:
        yield min(wait, delay)
        wait *= 2


class WebSocketCheck:
    """What the gate asks of a process once its health check answers: the app's own contract.

    path: where the app serves WebSockets (with a query string if it needs one); headers (a
    token, an Origin) and subprotocols go in the handshake; send is sent after the ping, and
    expect, a regular expression, must match the next message received. None: nothing sent or
    awaited.
    """

    def __init__(self, path="/", headers=None, subprotocols=None, send=None, expect=None):
        self.path = path
        self.headers = dict(headers or {})
        self.subprotocols = list(subprotocols or [])
        self.send = send
        self.expect = expect

    def url(self, base):
        """The process's URL (ws://host/ or ws://host:port/) at the check's path."""
        return base.rstrip("/") + self.path

    def probe_options(self):
        return dict(
            headers=self.headers,
            subprotocols=self.subprotocols,
            send=self.send,
            expect=self.expect,
        )


class Probe:
    """The health gate and the connection count, on each process's own address.

    addresses: probe_target(slot, side) -> (url, unix socket or None), as Addresses gives.
    """

    def __init__(self, addresses, path, retries, delay, timeout, check=None, sleep=time.sleep):
        self.addresses = addresses
        self.path = path
        self.retries = retries
        self.delay = delay
        self.timeout = timeout
        self.check = check or WebSocketCheck()
        self.sleep = sleep

    def connections(self, slot, side):
        url, unix_socket = self.addresses.probe_target(slot, side)
        try:
            health = check_health(url, self.path, unix_socket, timeout=self.timeout)[1]
        except ProbeError:
            return None
        return health.get("connections") if isinstance(health, dict) else None

    def gate(self, slot, side):
        url, unix_socket = self.addresses.probe_target(slot, side)
        waits = backoff(self.delay)
        result, errors, attempts = probe_with_retries(
            lambda: probe_once(
                self.check.url(url),
                unix_socket,
                ping=True,
                timeout=self.timeout,
                health_path=self.path,
                **self.check.probe_options(),
            ),
            retries=self.retries,
            delay=self.delay,
            sleep=lambda _delay: self.sleep(next(waits)),
        )
        if result is None:
            return GateResult(False, attempts, errors[-1] if errors else "unknown")
        health = result.get("health")
        release = health.get("release") if isinstance(health, dict) else None
        return GateResult(True, attempts, release=release)
