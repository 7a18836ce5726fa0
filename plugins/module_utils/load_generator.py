# -*- coding: utf-8 -*-
# Copyright: wsfleet.deploy maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The load generator behind websocket_capacity: WebSocket clients in worker processes.

Each worker process runs an asyncio loop holding its share of the connections. Every
connection sends a message at the profile's rate (from a random phase, so that the
connections do not send in lockstep) and times the answer. The parent steps the connection
count up and asks the workers for a measure window: their round trips, messages, failed
handshakes and their own CPU time, by which the parent tells whether the generator itself
was the bottleneck.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import asyncio
import multiprocessing
import os
import random
import resource
import time
import traceback

try:
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed
except ImportError:
    HAS_WEBSOCKETS = False
    WEBSOCKETS_IMPORT_ERROR = traceback.format_exc()
else:
    HAS_WEBSOCKETS = True
    WEBSOCKETS_IMPORT_ERROR = None

# Handshakes a worker runs at once while ramping up: enough to ramp fast, few enough not to
# look like a flood to the router's per-address limits.
CONCURRENT_HANDSHAKES = 20
# Round trips a worker keeps per window, at most: enough for a p99, bounded in memory.
MAX_SAMPLES = 20000
ANSWER_TIMEOUT = 30.0
PAYLOAD_LETTERS = "abcdefghijklmnopqrstuvwxyz0123456789"


class Profile:
    """What each connection does: rate, size, compression, and the text it sends."""

    def __init__(self, url, messages_per_second, message_size, compression, request):
        self.url = url
        self.period = 1.0 / messages_per_second
        self.compression = "deflate" if compression else None
        # Random letters compress like a typical JSON payload would not: honest for the
        # compression case, and built once so that sending costs the generator nothing.
        self.payload = request or "".join(random.choices(PAYLOAD_LETTERS, k=message_size))


class Worker:
    """One worker process's connections and its current measure window."""

    def __init__(self, profile):
        self.profile = profile
        self.tasks = []
        self.failed_handshakes = 0
        self.samples = []
        self.answered = 0
        self.measuring = False

    async def hold(self, count):
        """Open connections until `count` are held (never closes any)."""
        gate = asyncio.Semaphore(CONCURRENT_HANDSHAKES)
        opened = []
        while len(self.tasks) < count:
            ready = asyncio.get_running_loop().create_future()
            self.tasks.append(asyncio.ensure_future(self.client(gate, ready)))
            opened.append(ready)
        if opened:
            await asyncio.gather(*opened)

    async def client(self, gate, ready):
        try:
            async with gate:
                connection = await connect(
                    self.profile.url,
                    compression=self.profile.compression,
                    open_timeout=ANSWER_TIMEOUT,
                    max_queue=None,
                )
        except Exception:  # pylint: disable=broad-except
            # Any refusal or timeout is a failed handshake, the criterion counts them all.
            self.failed_handshakes += 1
            ready.set_result(False)
            return
        ready.set_result(True)
        await self.talk(connection)

    async def talk(self, connection):
        period = self.profile.period
        await asyncio.sleep(random.uniform(0, period))
        try:
            while True:
                started = time.monotonic()
                await connection.send(self.profile.payload)
                counted = self.measuring
                await asyncio.wait_for(connection.recv(), ANSWER_TIMEOUT)
                elapsed = time.monotonic() - started
                if counted and self.measuring:
                    self.answered += 1
                    if len(self.samples) < MAX_SAMPLES:
                        self.samples.append(elapsed * 1000)
                # The next send is on the schedule, not after the answer: a slow answer
                # eats into the period instead of lowering the rate.
                await asyncio.sleep(max(0.0, period - elapsed))
        except (ConnectionClosed, asyncio.TimeoutError):
            return

    async def measure(self, seconds):
        self.samples, self.answered = [], 0
        failed_before = self.failed_handshakes
        cpu_before = time.process_time()
        self.measuring = True
        await asyncio.sleep(seconds)
        self.measuring = False
        return dict(
            round_trips_ms=self.samples,
            answered=self.answered,
            failed_handshakes=self.failed_handshakes - failed_before,
            cpu_cores=(time.process_time() - cpu_before) / seconds,
        )


def raise_open_files_limit():
    """Each connection is a file: take the hard limit, as a load generator must."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def worker_main(pipe, profile):
    """A worker process: obey ('hold', n), ('measure', seconds) and ('stop',) from the pipe."""
    raise_open_files_limit()
    asyncio.run(serve_commands(pipe, Worker(profile)))


async def serve_commands(pipe, worker):
    loop = asyncio.get_running_loop()
    while True:
        command = await loop.run_in_executor(None, pipe.recv)
        if command[0] == "stop":
            for task in worker.tasks:
                task.cancel()
            pipe.send(None)
            return
        if command[0] == "hold":
            await worker.hold(command[1])
            pipe.send(dict(failed_handshakes=worker.failed_handshakes))
        elif command[0] == "measure":
            pipe.send(await worker.measure(command[1]))


def host_cpu_times():
    """This host's (total, idle, cpus) from /proc/stat: jiffies over all its CPUs, idle with
    iowait, and how many CPUs it has. Beside the generator's own CPU, it shows a host whose
    other work (an app, a router) leaves the generator's timing waiting for a core."""
    with open("/proc/stat") as stat:
        fields = [int(value) for value in stat.readline().split()[1:]]
    return sum(fields), fields[3] + fields[4], os.cpu_count() or 1


class Generator:
    """The parent's handle on the worker processes."""

    def __init__(self, profile, processes):
        context = multiprocessing.get_context("fork")
        self.pipes = []
        self.processes = []
        for number in range(processes):
            parent, child = context.Pipe()
            process = context.Process(
                target=worker_main,
                args=(child, profile),
                name="wsfleet-load-%d" % number,
                daemon=True,
            )
            process.start()
            self.pipes.append(parent)
            self.processes.append(process)

    def ask(self, commands):
        for index, pipe in enumerate(self.pipes):
            pipe.send(commands[index])
        return [pipe.recv() for pipe in self.pipes]

    def hold(self, connections):
        """Spread the connections evenly over the workers and wait until they are open."""
        count = len(self.pipes)
        shares = [connections // count + (index < connections % count) for index in range(count)]
        return self.ask([("hold", share) for share in shares])

    def measure(self, seconds):
        return self.ask([("measure", seconds)] * len(self.pipes))

    def stop(self):
        try:
            self.ask([("stop",)] * len(self.pipes))
        finally:
            for process in self.processes:
                process.join(timeout=5)
                if process.is_alive():
                    os.kill(process.pid, 9)
