"""Prometheus metrics of one server process, served at ``GET /metrics``.

What a fleet's operators size and alert on: open connections against the process's cap,
handshakes by outcome, messages in and out, and how late the event loop runs (a process whose
loop lags is saturated, whatever its connection count). Each process has its own registry:
its figures are its own, read through its own socket.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)

METRICS_PATH = "/metrics"
# How often the event loop's lag is sampled: often enough to see a saturated loop between two
# scrapes, rarely enough to cost nothing.
LAG_SAMPLE_INTERVAL = 0.5


class Metrics:
    """The process's metrics; the server updates them, /metrics renders them."""

    def __init__(self, *, release: str, instance: str, version: str, max_connections: int) -> None:
        self.registry = CollectorRegistry()
        # CPU seconds, resident memory and open files of this process, which capacity
        # measurements read beside the connection count.
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        info = Gauge(
            "wsfleet_app_info",
            "The release and slot this process serves (always 1).",
            ["release", "instance", "version"],
            registry=self.registry,
        )
        info.labels(release=release, instance=instance, version=version).set(1)
        self.open_connections = Gauge(
            "wsfleet_app_open_connections",
            "WebSocket connections open in this process.",
            registry=self.registry,
        )
        cap = Gauge(
            "wsfleet_app_max_connections",
            "Open connections beyond which handshakes are refused with 503 (0: no cap).",
            registry=self.registry,
        )
        cap.set(max_connections)
        self.handshakes = Counter(
            "wsfleet_app_handshakes",
            "WebSocket handshakes answered, by HTTP status (101 accepted, 503 full or stopping).",
            ["code"],
            registry=self.registry,
        )
        self.messages_received = Counter(
            "wsfleet_app_messages_received",
            "WebSocket messages received from clients.",
            registry=self.registry,
        )
        self.messages_sent = Counter(
            "wsfleet_app_messages_sent",
            "WebSocket messages sent to clients.",
            registry=self.registry,
        )
        self.event_loop_lag = Gauge(
            "wsfleet_app_event_loop_lag_seconds",
            "How late the event loop last woke from a timer: near 0 while it keeps up.",
            registry=self.registry,
        )

    def count_open_connections_with(self, count: Callable[[], int]) -> None:
        """Read the open connections from the server at each scrape, never out of step."""
        self.open_connections.set_function(count)

    def render(self) -> tuple[str, str]:
        """The metrics in Prometheus text format, and their content type."""
        return generate_latest(self.registry).decode(), CONTENT_TYPE_LATEST

    async def watch_event_loop_lag(self) -> None:
        """Sample the loop's lag until cancelled: a timer woken late means a busy loop."""
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            await asyncio.sleep(LAG_SAMPLE_INTERVAL)
            self.event_loop_lag.set(max(loop.time() - started - LAG_SAMPLE_INTERVAL, 0.0))
