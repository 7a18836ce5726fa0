# -*- coding: utf-8 -*-
# Copyright: wsfleet.deploy maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Logic behind websocket_capacity: the step plan, when a process is saturated, the knee, and
what it means for a fleet. Pure functions over plain dicts, so every rule is unit tested.

A step is a dict with the figures measured while the generator held its connections:
connections, messages_per_second (echoed), p50_ms, p99_ms, process_cpu_cores,
event_loop_lag_seconds, failed_handshakes, memory_per_connection_bytes and
generator_cpu_cores (one figure per generator process).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import math

# The criteria the report names, in the order it names them.
CRITERIA = ("cpu", "p99", "lag", "failures")


def step_plan(start, factor, maximum):
    """Connection counts from start, each factor times the last, up to maximum (included)."""
    if start < 1 or factor <= 1 or maximum < start:
        raise ValueError("need 1 <= start <= maximum and factor > 1")
    counts = [start]
    while counts[-1] < maximum:
        counts.append(min(maximum, max(counts[-1] + 1, round(counts[-1] * factor))))
    return counts


def saturated_by(step, limits):
    """The criteria this step met: the process is at its limit by each of them."""
    met = {
        "cpu": step["process_cpu_cores"] >= limits["cpu_cores"],
        "p99": step["p99_ms"] is None or step["p99_ms"] > limits["p99_ms"],
        "lag": step["event_loop_lag_seconds"] > limits["lag_seconds"],
        "failures": step["failed_handshakes"] > limits["failed_handshakes"],
    }
    return [name for name in CRITERIA if met[name]]


def generator_saturated(step, limit):
    """Whether a generator process used so much CPU that its own delays enter the figures."""
    return max(step["generator_cpu_cores"] or [0.0]) >= limit


def verdict(step, limits, generator_limit):
    """What the stepping does after this step: 'next', 'saturated' or 'invalid'.

    The generator is judged first: when it is saturated, a slow echo may be its own doing,
    so nothing can be concluded about the process."""
    if generator_saturated(step, generator_limit):
        return "invalid"
    if saturated_by(step, limits):
        return "saturated"
    return "next"


def knee(steps, limits, generator_limit):
    """The last step that held (the knee) and the first that did not, with the reason.

    Returns a dict: valid, reason, saturated_by, knee (a step or None), first_saturated
    (a step or None). Only a knee the process reached (reason 'saturated') is valid."""
    last_good = None
    for step in steps:
        outcome = verdict(step, limits, generator_limit)
        if outcome == "invalid":
            return ended("generator_saturated", last_good)
        if outcome == "saturated":
            reason = "saturated" if last_good is not None else "saturated_at_first_step"
            return ended(reason, last_good, step, saturated_by(step, limits))
        last_good = step
    return ended("not_saturated", last_good)


def ended(reason, last_good, first_saturated=None, criteria=()):
    return dict(
        valid=reason == "saturated",
        reason=reason,
        saturated_by=list(criteria),
        knee=last_good,
        first_saturated=first_saturated,
    )


def recommendation(knee_connections, headroom, processes_per_host, target_connections, spare_hosts):
    """Processes and hosts for target_connections, each process kept headroom below its knee.

    The cap to set (wsfleet_app_max_connections) is what one process may hold; hosts are
    the ones the target needs, plus spares to lose a host without losing capacity."""
    per_process = math.floor(knee_connections * (1 - headroom))
    if per_process < 1:
        return None
    per_host = per_process * processes_per_host
    needed = math.ceil(target_connections / float(per_host))
    return dict(
        max_connections_per_process=per_process,
        processes_per_host=processes_per_host,
        connections_per_host=per_host,
        hosts_for_target=needed,
        spare_hosts=spare_hosts,
        hosts=needed + spare_hosts,
        target_connections=target_connections,
        headroom=headroom,
    )


def percentile(sorted_values, fraction):
    """The value below which this fraction of the (sorted) values lie: nearest rank."""
    if not sorted_values:
        return None
    rank = math.ceil(fraction * len(sorted_values)) - 1
    return sorted_values[min(len(sorted_values) - 1, max(0, rank))]


def prometheus_values(text, names):
    """The unlabelled samples of these metric names in a Prometheus text exposition."""
    found = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        fields = line.split(" ")
        if fields[0] in names and len(fields) > 1:
            found[fields[0]] = float(fields[1])
    return found


def step_figures(connections, failed_handshakes, windows, before, after, seconds, baseline):
    """One step's figures from the workers' windows and the process's metrics around them.

    failed_handshakes: those of this step's ramp and window; before, after and baseline are
    prometheus_values() of the process (baseline: before the first connection), seconds the
    wall time between before and after."""
    round_trips = sorted(ms for window in windows for ms in window["round_trips_ms"])
    held = after.get("wsfleet_app_open_connections", connections)
    memory = None
    if held > baseline.get("wsfleet_app_open_connections", 0):
        memory = (
            after["process_resident_memory_bytes"] - baseline["process_resident_memory_bytes"]
        ) / (held - baseline.get("wsfleet_app_open_connections", 0))
    return dict(
        connections=connections,
        process_connections=int(held),
        messages_per_second=round(sum(w["answered"] for w in windows) / seconds, 1),
        p50_ms=rounded(percentile(round_trips, 0.50)),
        p99_ms=rounded(percentile(round_trips, 0.99)),
        process_cpu_cores=round(
            (after["process_cpu_seconds_total"] - before["process_cpu_seconds_total"]) / seconds, 3
        ),
        event_loop_lag_seconds=after.get("wsfleet_app_event_loop_lag_seconds", 0.0),
        memory_per_connection_bytes=int(memory) if memory is not None else None,
        failed_handshakes=failed_handshakes,
        generator_cpu_cores=[round(w["cpu_cores"], 3) for w in windows],
    )


def busy_cores(before, after):
    """Cores of a host kept busy between two readings of its /proc/stat CPU line.

    before and after: (total, idle) jiffies summed over its CPUs, and its CPU count, as
    (total, idle, cpus). Idle counts iowait too: a CPU waiting on a disk could run a task."""
    total = after[0] - before[0]
    if total <= 0:
        return None
    return round((total - (after[1] - before[1])) / total * after[2], 2)


def rounded(value):
    return None if value is None else round(value, 2)
