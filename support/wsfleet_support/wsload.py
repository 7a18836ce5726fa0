"""WebSocket load generator that accounts for every message across server restarts.

Each client holds one connection to a WebSocket echo endpoint and sends numbered
text messages ``"<client>:<seq>"`` at a fixed rate; the server echoes them back and
the client records the round-trip time. When the server closes a connection the
client records the close code, waits a random jitter, reconnects and resends every
message that was not echoed yet. A message is lost only if it was never echoed by
the end of the run, so a rolling restart that drops nothing reports zero lost.

Command line (prints a summary, optionally writes the JSON report; bench/wsload.py is the
same command)::

    python -m bench.wsload --url wss://app.example.test/ --clients 2000 --rate 1 \\
        --duration 60 --ramp 10 --ca-file ca.pem --connect-to 192.0.2.10 --json out.json

From asyncio::

    report = await run_load(LoadConfig(url="ws://127.0.0.1:8000/", clients=100, duration=10))

From synchronous code such as pytest or a molecule verifier::

    runner = LoadRunner(LoadConfig(url="ws://127.0.0.1:8000/", clients=200, rate=2))
    runner.start()
    runner.wait_connected(timeout=30)
    ...  # restart the servers while the load runs
    report = runner.stop()
    assert report.messages_lost == 0

An app that is not an echo but answers each message with one carrying its text, such as
examples/chat_app, is loaded the same way: ``message_field`` sends each numbered text as a
field of a JSON object (with ``message_fields`` beside it), an answer carrying that field
acknowledges it, and any other message from the server (a greeting) counts as a notice.
``{client}`` in the URL becomes each client's number (a room of its own, say).

Everything runs in one event loop with one task per client, so a single process
handles thousands of clients at a few messages per second each.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import itertools
import json
import logging
import math
import random
import re
import resource
import signal
import socket
import ssl
import sys
import threading
import time
from array import array
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as websocket_connect
from websockets.exceptions import (
    ConnectionClosed,
    InvalidHandshake,
    InvalidMessage,
    InvalidStatus,
    InvalidURI,
)
from websockets.frames import CloseCode
from websockets.uri import parse_uri

from wsfleet_support.stats import percentiles

logger = logging.getLogger("wsload")

USER_AGENT = "wsfleet-wsload"
ABNORMAL_CLOSURE = int(CloseCode.ABNORMAL_CLOSURE)
FINAL_CLOSE_REASON = "load test finished"
LATENCY_POINTS = (50.0, 90.0, 99.0, 99.9)
RECONNECT_DELAY_POINTS = (50.0, 90.0, 99.0)
# What a failed handshake can raise; anything else is a bug or a bad configuration
# and must stop the run instead of being retried forever.
HANDSHAKE_ERRORS = (OSError, TimeoutError, InvalidHandshake)
ERRNO_REASONS = {
    errno.ECONNREFUSED: "connection refused",
    errno.ECONNRESET: "connection reset",
    errno.ECONNABORTED: "connection aborted",
    errno.ENOENT: "socket not found",
    errno.ETIMEDOUT: "timeout",
    errno.EHOSTUNREACH: "host unreachable",
    errno.ENETUNREACH: "network unreachable",
}
# Time allowed on top of the grace period and close timeout before
# LoadRunner.stop() concludes that the run hangs.
STOP_MARGIN = 30.0


# -- configuration -------------------------------------------------------------


@dataclass(frozen=True)
class LoadConfig:
    """What to load and how; validated on creation."""

    url: str
    clients: int = 10
    # Messages per second and client; 0 keeps the connections open but idle.
    rate: float = 1.0
    # Seconds of load; None runs until the stop event is set (or LoadRunner.stop()).
    duration: float | None = None
    # The first connects are spread evenly over this many seconds.
    ramp_up: float = 0.0
    # A client waits a random 0..jitter seconds before reconnecting after a close.
    reconnect_jitter: float = 1.0
    handshake_timeout: float = 10.0
    # After the load stops, how long to wait for outstanding echoes.
    grace: float = 5.0
    close_timeout: float = 5.0
    # Verify wss:// servers against this CA bundle instead of the system's.
    ca_file: str | None = None
    # "host", "host:port", "[v6]:port": connect there, keep the URL's host for SNI and Host.
    connect_to: str | None = None
    unix_socket: str | None = None
    headers: Mapping[str, str] | None = None
    # Subprotocols offered in the handshake.
    subprotocols: Sequence[str] | None = None
    # Send each numbered text as this field of a JSON object, with message_fields beside it;
    # None sends the bare text and expects it echoed.
    message_field: str | None = None
    message_fields: Mapping[str, Any] | None = None
    # permessage-deflate on or off; None keeps the websockets default (on).
    compression: bool | None = None
    # Extra characters appended to every message, to load with bigger frames.
    payload_size: int = 0
    ping_interval: float | None = 20.0
    backoff_initial: float = 0.1
    backoff_max: float = 2.0
    lost_sample_size: int = 20
    keep_reconnect_delays: bool = True

    def __post_init__(self) -> None:
        try:
            secure = parse_uri(self.url).secure
        except InvalidURI as exc:
            raise ValueError(str(exc)) from None
        require(self.clients >= 1, f"clients must be at least 1, got {self.clients}")
        require(is_seconds(self.rate), f"rate must be a finite number >= 0, got {self.rate}")
        if self.duration is not None:
            require(is_seconds(self.duration, positive=True), "duration must be > 0")
        for name in ("ramp_up", "reconnect_jitter", "grace", "close_timeout"):
            require(is_seconds(getattr(self, name)), f"{name} must be a finite number >= 0")
        require(is_seconds(self.handshake_timeout, positive=True), "handshake_timeout must be > 0")
        require(0 < self.backoff_initial <= self.backoff_max, "need 0 < backoff_initial <= max")
        require(self.payload_size >= 0, "payload_size must be >= 0")
        require(self.ca_file is None or secure, "ca_file needs a wss:// URL")
        require(
            self.connect_to is None or self.unix_socket is None,
            "connect_to and unix_socket are mutually exclusive",
        )
        if self.connect_to is not None:
            parse_connect_to(self.connect_to)
        require(
            self.message_fields is None or self.message_field is not None,
            "message_fields needs message_field",
        )

    @property
    def send_interval(self) -> float | None:
        return 1.0 / self.rate if self.rate > 0 else None


def require(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


def is_seconds(value: float, *, positive: bool = False) -> bool:
    return math.isfinite(value) and (value > 0 if positive else value >= 0)


def parse_connect_to(value: str) -> tuple[str, int | None]:
    """Split "host", "host:port", "[v6]:port" or a bare IPv6 address."""
    if value.startswith("["):
        host, _, rest = value[1:].partition("]")
        port_text = rest.removeprefix(":")
    elif value.count(":") == 1:
        host, port_text = value.split(":")
    else:
        host, port_text = value, ""
    valid_port = port_text == "" or (port_text.isdigit() and 0 < int(port_text) < 65536)
    if not host or not valid_port:
        raise ValueError(f"connect_to must be host, host:port or [ipv6]:port, got {value!r}")
    return host, int(port_text) if port_text else None


def connect_options(config: LoadConfig) -> dict[str, Any]:
    """Keyword arguments for websockets' connect(), shared by every client."""
    options: dict[str, Any] = {
        "open_timeout": config.handshake_timeout,
        "close_timeout": config.close_timeout,
        "ping_interval": config.ping_interval,
        "ping_timeout": config.ping_interval,
        # A load test measures the path it is pointed at, never an HTTP(S)_PROXY.
        "proxy": None,
        "user_agent_header": USER_AGENT,
        "additional_headers": dict(config.headers) if config.headers else None,
        "subprotocols": list(config.subprotocols) if config.subprotocols else None,
    }
    if config.compression is not None:
        options["compression"] = "deflate" if config.compression else None
    if parse_uri(config.url).secure:
        # One context for all clients: loading the CA bundle per connection is costly.
        options["ssl"] = ssl.create_default_context(cafile=config.ca_file)
    if config.unix_socket is not None:
        options.update(unix=True, path=config.unix_socket)
    elif config.connect_to is not None:
        # websockets passes these to loop.create_connection() and still takes
        # server_hostname (SNI) and the Host header from the URL.
        host, port = parse_connect_to(config.connect_to)
        options["host"] = host
        if port is not None:
            options["port"] = port
    return options


def raise_open_files_limit() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard limit; return the soft limit in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    # An unlimited hard limit is still capped by the kernel's nr_open.
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    if soft == resource.RLIM_INFINITY or soft >= target:
        return soft
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ValueError, OSError):
        return soft
    return target


# -- failure descriptions ------------------------------------------------------


def describe_handshake_failure(exc: BaseException) -> str:
    """A short, stable reason to count failed handshakes by."""
    if isinstance(exc, InvalidStatus):
        return f"http {exc.response.status_code}"
    if isinstance(exc, InvalidMessage):
        # The server closed the connection or sent something other than HTTP.
        if isinstance(exc.__cause__, EOFError):
            return "connection closed during handshake"
        return "invalid http response"
    if isinstance(exc, InvalidHandshake):
        return f"handshake: {type(exc).__name__}"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"tls: certificate verify failed ({exc.verify_message})"
    if isinstance(exc, ssl.SSLError):
        return f"tls: {exc.reason or type(exc).__name__}"
    if isinstance(exc, socket.gaierror):
        return f"dns: {exc.strerror}"
    if isinstance(exc, TimeoutError):
        return "timeout"
    if isinstance(exc, OSError):
        return describe_os_error(exc)
    return type(exc).__name__


def describe_os_error(exc: OSError) -> str:
    codes = {exc.errno} if exc.errno is not None else set()
    if not codes:
        # asyncio reports "Multiple exceptions: [Errno 111] ..., [Errno 111] ..." when
        # every address of a name (e.g. ::1 and 127.0.0.1 for localhost) failed.
        codes = {int(code) for code in re.findall(r"\[Errno (\d+)\]", str(exc))}
    if len(codes) == 1:
        code = codes.pop()
        return ERRNO_REASONS.get(code, errno.errorcode.get(code, f"errno {code}").lower())
    return f"os error: {exc}"


# -- statistics ----------------------------------------------------------------


@dataclass
class TimelineSecond:
    """What happened during one second of the run (second 0 starts with the run)."""

    second: int
    open: int = 0  # open connections at the end of the second
    peak_open: int = 0
    handshakes: int = 0
    reconnects: int = 0  # the handshakes of clients that had been closed
    handshake_failures: int = 0
    server_closes: int = 0
    acknowledged: int = 0


class Timeline:
    def __init__(self, origin: float) -> None:
        self.origin = origin
        self.seconds: list[TimelineSecond] = []

    def at(self, now: float) -> TimelineSecond:
        index = max(int(now - self.origin), 0)
        while len(self.seconds) <= index:
            # Quiet seconds inherit the open count of the second before.
            carried = self.seconds[-1].open if self.seconds else 0
            self.seconds.append(TimelineSecond(len(self.seconds), carried, carried))
        return self.seconds[index]


@dataclass
class Stats:
    """Counters updated by the clients; only ever touched from the event loop."""

    clients_connected: int = 0
    open_connections: int = 0
    peak_open_connections: int = 0
    handshakes_ok: int = 0
    handshake_failures: Counter[str] = field(default_factory=Counter)
    server_closes: Counter[str] = field(default_factory=Counter)
    server_close_reasons: Counter[str] = field(default_factory=Counter)
    abnormal_closures: int = 0
    reconnects: int = 0
    reconnect_delays: list[float] = field(default_factory=list)
    messages_sent: int = 0
    messages_resent: int = 0
    messages_acknowledged: int = 0
    duplicates: int = 0
    unexpected: int = 0
    notices: int = 0
    # A compact float array: a long run collects millions of round-trip times.
    latencies: array = field(default_factory=lambda: array("d"))


# -- report --------------------------------------------------------------------


@dataclass
class Report:
    """Outcome of a run; ``final`` is False for a snapshot taken while it runs."""

    url: str
    clients: int
    rate: float
    final: bool
    duration: float  # seconds of load, from the start until sending stopped
    drain_seconds: float  # waiting for outstanding echoes, then closing
    clients_connected: int  # clients that completed at least one handshake
    open_connections: int
    peak_open_connections: int
    handshakes_ok: int  # first connects plus reconnects
    handshakes_failed: int
    handshake_failures: Counter[str]  # by reason: "connection refused", "http 503" ...
    server_closes: Counter[str]  # by close code as received: "1012", "1006" ...
    server_close_reasons: Counter[str]  # by "code reason": "1012 service restart"
    abnormal_closures: int  # connections that ended without a close frame (1006)
    reconnects: int
    reconnect_delay: dict[str, float | None]  # close to next handshake: p50 p90 p99 max
    reconnect_delays: list[float]
    messages_sent: int  # unique messages
    messages_resent: int
    messages_acknowledged: int  # unique messages echoed back
    messages_lost: int  # never echoed (in a snapshot: not echoed yet)
    lost_sample: list[str]  # "<client>:<seq>" of some lost messages
    duplicates: int  # echoes of messages already acknowledged
    unexpected: int  # echoes that match no message this client sent
    notices: int  # with message_field: server messages without it (greetings)
    # Round trip in seconds: p50 p90 p99 p999 max; empty in LoadRunner.snapshot().
    latency: dict[str, float | None]
    timeline: list[TimelineSecond]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable data."""
        data = {item.name: getattr(self, item.name) for item in fields(self)}
        data.update(
            handshake_failures=dict(self.handshake_failures.most_common()),
            server_closes=dict(self.server_closes.most_common()),
            server_close_reasons=dict(self.server_close_reasons.most_common()),
            reconnect_delay=dict(self.reconnect_delay),
            reconnect_delays=list(self.reconnect_delays),
            latency=dict(self.latency),
            lost_sample=list(self.lost_sample),
            timeline=[asdict(second) for second in self.timeline],
        )
        return data

    def summary(self) -> str:
        """A few lines for humans."""
        return "\n".join(
            [
                f"wsload: {self.clients} clients at {self.rate:g} msg/s -> {self.url}: "
                f"{self.duration:.1f}s of load, {self.drain_seconds:.1f}s draining",
                f"handshakes: {self.handshakes_ok} ok, {self.handshakes_failed} failed"
                + format_counter(self.handshake_failures),
                f"server closes: {self.server_closes.total()}"
                + format_counter(self.server_closes)
                + f"; abnormal (1006): {self.abnormal_closures}",
                f"reconnects: {self.reconnects}; delay " + format_seconds(self.reconnect_delay),
                f"messages: {self.messages_sent} sent, {self.messages_resent} resent, "
                f"{self.messages_acknowledged} acknowledged, {self.messages_lost} lost, "
                f"{self.duplicates} duplicates, {self.unexpected} unexpected, "
                f"{self.notices} notices",
                "round trip: " + format_seconds(self.latency),
                f"connections: {self.clients_connected}/{self.clients} clients connected, "
                f"peak {self.peak_open_connections} open",
            ]
            + ([f"lost sample: {' '.join(self.lost_sample)}"] if self.lost_sample else [])
        )


def format_counter(counter: Counter[str]) -> str:
    if not counter:
        return ""
    return " (" + ", ".join(f"{key}: {count}" for key, count in counter.most_common()) + ")"


def format_seconds(summary: Mapping[str, float | None]) -> str:
    if summary.get("max") is None:
        return "n/a"
    return " ".join(f"{key} {value * 1000:.1f}ms" for key, value in summary.items())


# -- one client ----------------------------------------------------------------


class LoadClient:
    """One connection, reopened after every close, and the messages it owes."""

    def __init__(self, run: LoadRun, client_id: int) -> None:
        self.run = run
        self.client_id = client_id
        self.id_text = str(client_id)
        self.url = run.config.url.replace("{client}", self.id_text)
        self.padding = ":" + "x" * run.config.payload_size if run.config.payload_size else ""
        self.next_seq = 0
        # seq -> time of the latest send; insertion order is send order for resends.
        self.pending: dict[int, float] = {}
        self.connection: ClientConnection | None = None
        self.closed_at: float | None = None
        self.ever_connected = False

    async def main(self) -> None:
        try:
            await asyncio.sleep(self.run.ramp_delay(self.client_id))
            while self.wants_connection():
                connection = await self.open_connection()
                if connection is None:
                    break
                try:
                    await self.converse(connection)
                except ConnectionClosed as closed:
                    self.on_server_close(closed)
                await asyncio.sleep(random.uniform(0, self.run.config.reconnect_jitter))
        except Exception as exc:
            self.run.record_crash(exc)
            raise
        finally:
            # Reached through cancellation at the end of the run.
            await self.close_connection()

    def wants_connection(self) -> bool:
        # Once sending stops, a connection only serves to collect outstanding echoes.
        return self.run.sending or bool(self.pending)

    async def open_connection(self) -> ClientConnection | None:
        """Retry with backoff until a handshake succeeds or the connection isn't wanted."""
        failures = 0
        while True:
            try:
                connection = await websocket_connect(self.url, **self.run.options)
            except HANDSHAKE_ERRORS as exc:
                self.run.record_handshake_failure(describe_handshake_failure(exc))
                await asyncio.sleep(self.run.backoff(failures))
                failures += 1
                if not self.wants_connection():
                    return None
            else:
                self.connection = connection
                self.run.record_handshake(self)
                return connection

    async def converse(self, connection: ClientConnection) -> None:
        """Send at the configured rate and collect echoes until the connection closes."""
        loop = self.run.loop
        interval = self.run.config.send_interval
        await self.resend_pending(connection)
        # A random phase keeps thousands of clients from sending in lockstep.
        next_send = loop.time() + random.uniform(0, interval) if interval else math.inf
        while True:
            if self.run.sending and interval is not None:
                now = loop.time()
                if now >= next_send:
                    await self.send_new(connection)
                    next_send = following_send_time(next_send, interval, now)
                    continue
                message = await receive_before(connection, next_send)
                if message is None:
                    continue
            else:
                message = await connection.recv()
            self.on_echo(message)

    def message(self, seq: int) -> str:
        text = f"{self.id_text}:{seq}{self.padding}"
        config = self.run.config
        if config.message_field is None:
            return text
        return json.dumps({**(config.message_fields or {}), config.message_field: text})

    async def send_new(self, connection: ClientConnection) -> None:
        seq = self.next_seq
        self.next_seq += 1
        # Pending before sending: if the send fails, the message is resent later.
        self.pending[seq] = self.run.loop.time()
        self.run.record_sent()
        await connection.send(self.message(seq))

    async def resend_pending(self, connection: ClientConnection) -> None:
        for seq in list(self.pending):
            self.pending[seq] = self.run.loop.time()
            self.run.stats.messages_resent += 1
            await connection.send(self.message(seq))

    def on_echo(self, message: str | bytes) -> None:
        if isinstance(message, bytes):
            message = message.decode(errors="replace")
        if self.run.config.message_field is not None:
            message = self.answered_text(message)
            if message is None:
                self.run.stats.notices += 1
                return
        seq = self.parse_seq(message)
        sent_at = self.pending.pop(seq, None) if seq is not None else None
        if sent_at is not None:
            self.run.record_ack(self.run.loop.time() - sent_at)
        elif seq is not None and seq < self.next_seq:
            self.run.stats.duplicates += 1
        else:
            self.run.stats.unexpected += 1

    def answered_text(self, message: str) -> str | None:
        """The text a JSON answer carries in message_field; None for other messages."""
        try:
            answer = json.loads(message)
        except ValueError:
            return None
        text = answer.get(self.run.config.message_field) if isinstance(answer, dict) else None
        return text if isinstance(text, str) else None

    def parse_seq(self, message: str) -> int | None:
        client, _, rest = message.partition(":")
        seq_text = rest.partition(":")[0]
        if client != self.id_text or not seq_text.isdigit():
            return None
        return int(seq_text)

    def on_server_close(self, closed: ConnectionClosed) -> None:
        self.connection = None
        self.closed_at = self.run.loop.time()
        self.run.record_server_close(closed)

    async def close_connection(self) -> None:
        connection, self.connection = self.connection, None
        if connection is None:
            return
        self.run.record_connection_end()
        await connection.close(CloseCode.NORMAL_CLOSURE, FINAL_CLOSE_REASON)


def following_send_time(scheduled: float, interval: float, now: float) -> float:
    following = scheduled + interval
    # After a stall, skip the missed slots rather than burst to catch up.
    return following if following > now else now + interval


async def receive_before(connection: ClientConnection, deadline: float) -> str | bytes | None:
    """Return the next message, or None at the deadline (cancelling recv() is safe)."""
    try:
        async with asyncio.timeout_at(deadline):
            return await connection.recv()
    except TimeoutError:
        return None


# -- the whole run -------------------------------------------------------------


class LoadRun:
    """Shared state of all clients and the phases of a run: load, drain, close."""

    def __init__(
        self, config: LoadConfig, on_all_connected: Callable[[], None] | None = None
    ) -> None:
        self.config = config
        self.options = connect_options(config)
        self.on_all_connected = on_all_connected
        self.stats = Stats()
        self.clients = [LoadClient(self, client_id) for client_id in range(config.clients)]
        self.sending = True
        self.outstanding = 0  # messages sent but not acknowledged, over all clients
        self.drained = asyncio.Event()
        self.crashed = asyncio.Event()
        self.crash: Exception | None = None
        self.loop: asyncio.AbstractEventLoop  # the running loop, set by execute()
        self.started_at = 0.0
        self.stopped_at: float | None = None
        self.finished_at: float | None = None
        self.timeline = Timeline(0.0)

    async def execute(self, stop_event: asyncio.Event | None = None) -> Report:
        self.loop = asyncio.get_running_loop()
        self.started_at = self.loop.time()
        self.timeline = Timeline(self.started_at)
        self.timeline.at(self.started_at)
        tasks = [
            asyncio.create_task(client.main(), name=f"wsload-client-{client.client_id}")
            for client in self.clients
        ]
        try:
            await self.wait_for_stop(stop_event)
            self.stop_sending()
            if self.crash is None:
                await self.drain()
        finally:
            # Each client closes its connection with 1000 when cancelled.
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self.finished_at = self.loop.time()
        if self.crash is not None:
            raise RuntimeError("a load client crashed") from self.crash
        return self.build_report()

    async def wait_for_stop(self, stop_event: asyncio.Event | None) -> None:
        waiters = {asyncio.create_task(self.crashed.wait())}
        if stop_event is not None:
            waiters.add(asyncio.create_task(stop_event.wait()))
        try:
            await asyncio.wait(
                waiters, timeout=self.config.duration, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            for waiter in waiters:
                waiter.cancel()

    def stop_sending(self) -> None:
        self.sending = False
        self.stopped_at = self.loop.time()
        if self.outstanding == 0:
            self.drained.set()

    async def drain(self) -> None:
        """Wait up to the grace period for the echoes of messages already sent."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.config.grace):
                await self.drained.wait()

    # -- schedule ---------------------------------------------------------------

    def ramp_delay(self, client_id: int) -> float:
        return self.config.ramp_up * client_id / self.config.clients

    def backoff(self, attempt: int) -> float:
        ceiling = min(self.config.backoff_max, self.config.backoff_initial * 2**attempt)
        # Jitter spreads out the retries of clients that failed together.
        return ceiling * random.uniform(0.5, 1.0)

    # -- recording (event loop only) ---------------------------------------------

    def record_handshake(self, client: LoadClient) -> None:
        now = self.loop.time()
        stats = self.stats
        stats.handshakes_ok += 1
        second = self.timeline.at(now)
        if client.closed_at is not None:
            stats.reconnects += 1
            second.reconnects += 1
            stats.reconnect_delays.append(now - client.closed_at)
            client.closed_at = None
        if not client.ever_connected:
            client.ever_connected = True
            stats.clients_connected += 1
            if stats.clients_connected == self.config.clients and self.on_all_connected:
                self.on_all_connected()
        stats.open_connections += 1
        stats.peak_open_connections = max(stats.peak_open_connections, stats.open_connections)
        second.handshakes += 1
        self.note_open_count(second)

    def record_handshake_failure(self, reason: str) -> None:
        self.stats.handshake_failures[reason] += 1
        self.timeline.at(self.loop.time()).handshake_failures += 1

    def record_server_close(self, closed: ConnectionClosed) -> None:
        if closed.rcvd is None:
            # No close frame: the peer vanished (killed, reset, keepalive timeout).
            code, reason = ABNORMAL_CLOSURE, ""
            self.stats.abnormal_closures += 1
        else:
            code, reason = closed.rcvd.code, closed.rcvd.reason
        self.stats.server_closes[str(code)] += 1
        self.stats.server_close_reasons[f"{code} {reason}".rstrip()] += 1
        self.timeline.at(self.loop.time()).server_closes += 1
        self.record_connection_end()

    def record_connection_end(self) -> None:
        self.stats.open_connections -= 1
        self.note_open_count(self.timeline.at(self.loop.time()))

    def note_open_count(self, second: TimelineSecond) -> None:
        second.open = self.stats.open_connections
        second.peak_open = max(second.peak_open, second.open)

    def record_sent(self) -> None:
        self.stats.messages_sent += 1
        self.outstanding += 1

    def record_ack(self, latency: float) -> None:
        self.stats.messages_acknowledged += 1
        self.stats.latencies.append(latency)
        self.timeline.at(self.loop.time()).acknowledged += 1
        self.outstanding -= 1
        if not self.sending and self.outstanding == 0:
            self.drained.set()

    def record_crash(self, exc: Exception) -> None:
        if self.crash is None:
            self.crash = exc
            self.crashed.set()

    # -- report ------------------------------------------------------------------

    def build_report(self, *, latency: bool = True) -> Report:
        now = self.loop.time()
        self.timeline.at(now)
        stats = self.stats
        stopped_at = self.stopped_at if self.stopped_at is not None else now
        unanswered = (
            f"{client.client_id}:{seq}" for client in self.clients for seq in client.pending
        )
        return Report(
            url=self.config.url,
            clients=self.config.clients,
            rate=self.config.rate,
            final=self.finished_at is not None,
            duration=round(stopped_at - self.started_at, 3),
            drain_seconds=round((self.finished_at or now) - stopped_at, 3),
            clients_connected=stats.clients_connected,
            open_connections=stats.open_connections,
            peak_open_connections=stats.peak_open_connections,
            handshakes_ok=stats.handshakes_ok,
            handshakes_failed=stats.handshake_failures.total(),
            handshake_failures=Counter(stats.handshake_failures),
            server_closes=Counter(stats.server_closes),
            server_close_reasons=Counter(stats.server_close_reasons),
            abnormal_closures=stats.abnormal_closures,
            reconnects=stats.reconnects,
            reconnect_delay=percentiles(stats.reconnect_delays, RECONNECT_DELAY_POINTS),
            reconnect_delays=[round(delay, 6) for delay in stats.reconnect_delays]
            if self.config.keep_reconnect_delays
            else [],
            messages_sent=stats.messages_sent,
            messages_resent=stats.messages_resent,
            messages_acknowledged=stats.messages_acknowledged,
            messages_lost=sum(len(client.pending) for client in self.clients),
            lost_sample=list(itertools.islice(unanswered, self.config.lost_sample_size)),
            duplicates=stats.duplicates,
            unexpected=stats.unexpected,
            notices=stats.notices,
            latency=percentiles(stats.latencies, LATENCY_POINTS) if latency else {},
            timeline=[replace(second) for second in self.timeline.seconds],
        )


async def run_load(config: LoadConfig, stop_event: asyncio.Event | None = None) -> Report:
    """Run the load until config.duration elapses or stop_event is set; return the report."""
    warn_if_too_few_files(config.clients)
    return await LoadRun(config).execute(stop_event)


def warn_if_too_few_files(clients: int) -> None:
    limit = raise_open_files_limit()
    # A few descriptors go to the interpreter, the event loop and stdio.
    if limit != resource.RLIM_INFINITY and clients + 32 > limit:
        logger.warning("%d clients but only %d open files allowed (ulimit -n)", clients, limit)


# -- synchronous runner ----------------------------------------------------------


class LoadRunner:
    """Run the load in a background thread with its own event loop.

    For synchronous code: start(), wait_connected(), do things to the servers,
    optionally snapshot(), then stop() for the final report.
    """

    def __init__(self, config: LoadConfig) -> None:
        self.config = config
        self._connected = threading.Event()
        self._loop_ready = threading.Event()
        self._run = LoadRun(config, on_all_connected=self._connected.set)
        self._stop_event = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._report: Report | None = None
        self._error: BaseException | None = None

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("LoadRunner.start() was already called")
        warn_if_too_few_files(self.config.clients)
        self._thread = threading.Thread(target=self._thread_main, name="wsload", daemon=True)
        self._thread.start()
        self._loop_ready.wait()

    def _thread_main(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._loop_ready.set()
        try:
            self._report = await self._run.execute(self._stop_event)
        except BaseException as exc:  # handed to the caller's thread by stop()
            self._error = exc

    def wait_connected(self, timeout: float) -> None:
        """Block until every client completed its first handshake; raise TimeoutError."""
        thread = self._started_thread()
        deadline = time.monotonic() + timeout
        # Short slices notice a crashed run without waiting for the whole timeout.
        while not self._connected.wait(min(0.1, max(deadline - time.monotonic(), 0))):
            if not thread.is_alive():
                raise RuntimeError("the load run ended before all clients connected") from (
                    self._error
                )
            if time.monotonic() >= deadline:
                report = self.snapshot()
                raise TimeoutError(
                    f"{report.clients_connected}/{report.clients} clients connected after "
                    f"{timeout:g}s; failed handshakes: {dict(report.handshake_failures)}"
                )

    def snapshot(self, *, latency: bool = False) -> Report:
        """The counters so far (final=False), for polling while the load runs.

        Round-trip percentiles need a sort of every sample on the event loop, which
        stalls the clients of a long run; they are left empty unless latency=True.
        """
        thread = self._started_thread()
        if not thread.is_alive():
            if self._report is None:
                raise RuntimeError("the load run failed") from self._error
            return self._report
        return self._on_loop(lambda: self._run.build_report(latency=latency))

    def latency_mark(self) -> int:
        """How many round trips were measured so far: where a window of latency_since starts."""
        return self._on_loop(lambda: len(self._run.stats.latencies))

    def latency_since(self, mark: int) -> dict[str, float | None]:
        """Round-trip percentiles of the messages acknowledged since mark (latency_mark):
        how the clients fared during one part of the run."""
        return self._on_loop(lambda: percentiles(self._run.stats.latencies[mark:], LATENCY_POINTS))

    def _on_loop(self, read: Callable[[], Any]) -> Any:
        """read() run on the load's event loop, which alone touches its counters."""
        self._started_thread()
        assert self._loop is not None

        async def call() -> Any:
            return read()

        return asyncio.run_coroutine_threadsafe(call(), self._loop).result(timeout=30)

    def stop(self, timeout: float | None = None) -> Report:
        """Stop sending, drain, close every connection with 1000; return the final report."""
        thread = self._started_thread()
        assert self._loop is not None
        if thread.is_alive():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                self._loop.call_soon_threadsafe(self._stop_event.set)
        if timeout is None:
            timeout = self.config.grace + self.config.close_timeout + STOP_MARGIN
        thread.join(timeout)
        if thread.is_alive():
            raise TimeoutError(f"the load run did not stop within {timeout:g}s")
        if self._error is not None:
            raise self._error
        assert self._report is not None
        return self._report

    def _started_thread(self) -> threading.Thread:
        if self._thread is None:
            raise RuntimeError("call LoadRunner.start() first")
        return self._thread

    def __enter__(self) -> LoadRunner:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._thread is not None and self._thread.is_alive():
            self.stop()


# -- command line ----------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.wsload",
        description="Load WebSocket echo servers and account for every message.",
    )
    parser.add_argument("--url", required=True, help="ws:// or wss:// URL of an echo endpoint")
    parser.add_argument("--clients", type=int, default=100, help="concurrent connections")
    parser.add_argument("--rate", type=float, default=1.0, help="messages/s per client (0: idle)")
    parser.add_argument("--duration", type=float, help="seconds of load (default: until Ctrl-C)")
    parser.add_argument("--ramp", type=float, default=0.0, help="spread first connects (s)")
    parser.add_argument("--jitter", type=float, default=1.0, help="max reconnect delay (s)")
    parser.add_argument("--handshake-timeout", type=float, default=10.0, metavar="S")
    parser.add_argument("--grace", type=float, default=5.0, help="wait for echoes at the end")
    parser.add_argument("--ca-file", help="CA bundle to verify a wss:// server against")
    parser.add_argument("--connect-to", metavar="ADDR", help="host[:port] to connect to instead")
    parser.add_argument("--unix-socket", metavar="PATH", help="connect to this unix socket")
    parser.add_argument(
        "--header", action="append", default=[], metavar="'NAME: VALUE'", help="extra header"
    )
    parser.add_argument(
        "--subprotocol", action="append", default=[], help="offer this subprotocol; repeatable"
    )
    parser.add_argument(
        "--message-field", metavar="NAME", help="send each text as this field of a JSON object"
    )
    parser.add_argument(
        "--message-fields", metavar="JSON", help="other fields of each JSON message, an object"
    )
    parser.add_argument("--compression", choices=["on", "off"], help="permessage-deflate")
    parser.add_argument("--payload-size", type=int, default=0, help="extra bytes per message")
    parser.add_argument("--json", metavar="PATH", help="write the JSON report here")
    parser.add_argument("--fail-on-loss", action="store_true", help="exit 1 if messages lost")
    return parser.parse_args(argv)


def config_from_args(args: argparse.Namespace) -> LoadConfig:
    headers = {}
    for header in args.header:
        name, colon, value = header.partition(":")
        if not colon or not name.strip():
            raise ValueError(f"--header must look like 'Name: value', got {header!r}")
        headers[name.strip()] = value.strip()
    message_fields = json.loads(args.message_fields) if args.message_fields else None
    if message_fields is not None and not isinstance(message_fields, dict):
        raise ValueError(f"--message-fields must be a JSON object, got {args.message_fields!r}")
    return LoadConfig(
        url=args.url,
        clients=args.clients,
        rate=args.rate,
        duration=args.duration,
        ramp_up=args.ramp,
        reconnect_jitter=args.jitter,
        handshake_timeout=args.handshake_timeout,
        grace=args.grace,
        ca_file=args.ca_file,
        connect_to=args.connect_to,
        unix_socket=args.unix_socket,
        headers=headers or None,
        subprotocols=args.subprotocol or None,
        message_field=args.message_field,
        message_fields=message_fields,
        compression=None if args.compression is None else args.compression == "on",
        payload_size=args.payload_size,
    )


async def run_until_signalled(config: LoadConfig) -> Report:
    """Like run_load, but SIGINT and SIGTERM end the load gracefully."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    return await run_load(config, stop)


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    try:
        config = config_from_args(args)
    except ValueError as exc:
        print(f"wsload: {exc}", file=sys.stderr)
        return 2
    report = asyncio.run(run_until_signalled(config))
    print(report.summary())
    if args.json:
        Path(args.json).write_text(json.dumps(report.to_dict(), indent=2) + "\n")
    return 1 if args.fail_on_loss and report.messages_lost else 0


if __name__ == "__main__":
    sys.exit(main())
