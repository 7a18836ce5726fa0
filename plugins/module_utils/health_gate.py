# -*- coding: utf-8 -*-
# Copyright: wsfleet.deploy maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The health gate of a rollout (app_rollout): each process tried on its own address with the
probe of websocket_probe (health check, then a WebSocket handshake with a ping), and the
connections it reports before it is replaced."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible_collections.wsfleet.deploy.plugins.module_utils.rollout import GateResult
from ansible_collections.wsfleet.deploy.plugins.module_utils.websocket_probe import (
    ProbeError,
    check_health,
    probe_once,
    probe_with_retries,
)


def backoff(delay, first=0.02):
    """Waits between gate attempts: short at first, since most processes are ready within a
    fraction of a second, doubling up to delay."""
    wait = first
    while True:
        yield min(wait, delay)
        wait *= 2


class Probe:
    """The health gate and the connection count, on each process's own address.

    addresses: probe_target(slot, side) -> (url, unix socket or None), as Addresses gives.
    """

    def __init__(self, addresses, path, retries, delay, timeout, sleep=time.sleep):
        self.addresses = addresses
        self.path = path
        self.retries = retries
        self.delay = delay
        self.timeout = timeout
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
                url, unix_socket, ping=True, timeout=self.timeout, health_path=self.path
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
