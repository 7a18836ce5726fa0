"""The benchmark report, reproduced by one command on a local fleet of its own.

    .venv/bin/python -m bench.run [--out docs/benchmarks] [--clients 2000] [--capacity 8000]
                                  [--large] [--keep-fleet]

It brings up a fleet named wsfleet-bench (3 app hosts with 2 processes each, 2 edges sharing
floating addresses, 1 ACME host), deploys with site.yml, then measures, writing everything to
OUT/results.json and the report (bench/report.py) next to it:

- Ansible speed: first converge, no-op re-run with and without pipelining, rolling restart
  wall time with and without pipelining against its floor: the same surge replacement of
  every process (start the other side, healthy, switch the slot's link, stop the old side),
  one after the other, timed on the hosts without Ansible. Every rollout playbook writes each
  host's module report as JSON (wsfleet_app_rollout_report_dir), read from a fresh folder.
- Rolling restart and deploy under load: CLIENTS wss:// clients through the edge (at the first
  floating address) at 1 message per second (bench/wsload.py), open connections of every
  process sampled on the hosts.
- The same load through what a user does without the collection: the surge by hand (the
  floor, no Ansible), every process restarted at once, one process at a time with no gate.
- Capacity: idle connections held through the edge with the defaults, up to CAPACITY; memory
  per idle connection in the app processes, with and without permessage-deflate.
- Latency: echo round trips through the edge (TLS), through one app host's NGINX, and
  straight to one process (measured on its host).
- With --large, last: the fleet grows to 8 app hosts x 4 processes, and the rolling restart
  without load is timed in 4 host batches (wsfleet_rolling_serial=25%).

Load goes only to the fleet's own hosts. Timings are measurements, never test assertions.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from websockets.asyncio.client import connect

from bench.report import results_figures, write_report
from wsfleet_support import benchmark, ssh, stats
from wsfleet_support.benchmark import machine
from wsfleet_support.fleet import SHARED_NAME, LocalFleet, fleet_name
from wsfleet_support.paths import EXAMPLE_APP, PROJECT
from wsfleet_support.playbooks import BIN, changed_counts, run_playbook, run_timed
from wsfleet_support.wsload import LoadConfig, LoadRunner

FLEET = "wsfleet-bench"
INVENTORY = PROJECT / "inventories" / "local" / "bench-hosts.yml"
BENCH_FLEET = LocalFleet(FLEET, INVENTORY)
STATE = BENCH_FLEET.state
APP = "echo"
RUNTIME_DIR = f"/run/{APP}"
# Where app_rollout leaves the report of the last rollout on each host.
LAST_ROLLOUT = f"/srv/{APP}/last-rollout.json"
APP_PYTHON = f"/srv/{APP}/current/venv/bin/python"
APP_HOSTS = 3
# The optional scaling run: a larger fleet, restarted in 4 host batches without load.
LARGE_APP_HOSTS = 8
LARGE_PROCESSES = 4
LARGE_SERIAL = "25%"
# Seconds the load runs before the measured action, and after it before the balance is read.
SETTLE_SECONDS = 5
BALANCE_DELAY_SECONDS = 5
LATENCY_POINTS = (50, 90, 99, 99.9)

__all__ = ["BIN", "PROJECT", "machine"]


def say(message: str) -> None:
    print(f"bench: {message}", flush=True)


def run(command: list[str], *, env: dict | None = None, check: bool = True) -> tuple[float, str]:
    """Run a command from the project root; return its wall time and its output."""
    completed = run_timed(command, env=env, check=check)
    return completed.wall_seconds, completed.stdout


def playbook(name: str, *args: str, pipelining: bool = True) -> tuple[float, str]:
    env = {"ANSIBLE_PIPELINING": "True" if pipelining else "False"}
    completed = run_playbook(INVENTORY, name, *args, env=env)
    return completed.wall_seconds, completed.stdout


def hosts() -> list[dict]:
    return BENCH_FLEET.hosts()


def hosts_of(group: str) -> list[dict]:
    return BENCH_FLEET.hosts_of(group)


def ssh_command(address: str, *remote: str) -> list[str]:
    return ssh.ssh_command(BENCH_FLEET, address, *remote)


def on_host(address: str, script: str, *args: str, python: str = "python3") -> str:
    """The output of a host-side script of wsfleet_support.remote (probe.py, ws_probe.py)."""
    return ssh.run_script(BENCH_FLEET, address, script, *args, python=python)


def slot_link(number: int) -> str:
    return f"{RUNTIME_DIR}/{number}.sock"


# --- the fleet ----------------------------------------------------------------------------


def fleet_host_specs(app_hosts: int, monitoring: bool = False) -> list[str]:
    """The bench fleet as fleet/localfleet.py's --host NAME:GROUP specs, app hosts first; two
    edges, which share the floating addresses clients reach; with monitoring, the quick-start
    fleet's monitoring host too (the others leave Prometheus out of what they measure)."""
    apps = [f"app{number}:app" for number in range(1, app_hosts + 1)]
    return [
        *apps,
        "edge1:edge",
        "edge2:edge",
        "acme1:acme",
        *(["monitor1:monitoring"] * monitoring),
    ]


def localfleet(command: str, *args: str, check: bool = True) -> None:
    fleet = [sys.executable, "fleet/localfleet.py", command, "--name", FLEET]
    run([*fleet, "--inventory", str(INVENTORY), *args], check=check)


def fleet_down() -> None:
    localfleet("down", check=False)


def fleet_up(app_hosts: int = APP_HOSTS, *, fresh: bool, monitoring: bool = False) -> None:
    """Bring the fleet up (from nothing when fresh); hosts added later keep those running."""
    if fresh:
        localfleet("down", check=False)
    specs = [arg for spec in fleet_host_specs(app_hosts, monitoring) for arg in ("--host", spec)]
    localfleet("up", *specs)
    if fresh:
        # Pebble's root is new on every start: only a fresh fleet runs it.
        playbook("fleet/acme.yml")


def fresh_fleet_unless_reused(args: argparse.Namespace) -> bool:
    """A fresh fleet, unless --reuse-fleet asks for the one already up; whether it is fresh."""
    if args.reuse_fleet:
        return False
    say(f"fleet {FLEET}")
    fleet_up(fresh=True)
    return True


def measure_on_fleet(
    results: dict,
    args: argparse.Namespace,
    measure: Callable[[dict, argparse.Namespace, Callable[[], None]], None],
    write_outputs: Callable[[dict, Path], None],
    report: Path,
) -> None:
    """A benchmark's run on this fleet: measure(results, args, save), the results and their
    report saved after each step and at the end, the fleet brought down unless --keep-fleet."""
    benchmark.measure_and_save(
        results,
        lambda save: measure(results, args, save),
        lambda measured: write_outputs(measured, report.parent),
        fleet_down,
        args.keep_fleet,
    )
    say(f"report: {report}")


# --- the rollout playbooks' own reports ---------------------------------------------------


def fresh_reports(texts: dict[str, str], since: float) -> dict[str, dict]:
    """The reports, by host, of rollouts that began at `since` (epoch seconds) or later: a host
    the run did not reach keeps an older report, or none."""
    reports = {}
    for host, text in texts.items():
        report = json.loads(text) if text.strip() else {}
        if report.get("started", 0) >= since:
            reports[host] = report
    return reports


def read_rollout_reports(since: float) -> dict[str, dict]:
    """Each app host's app_rollout report of a run that began at `since`, by inventory host
    name. The module leaves it on the host, so reading it afterwards adds nothing to the
    playbook's wall time."""
    texts = {
        host["name"]: ssh.run(BENCH_FLEET, host["address"], "cat", LAST_ROLLOUT, check=False)
        for host in hosts_of("app")
    }
    return fresh_reports(texts, since)


def batch_size(serial: str, host_count: int) -> int:
    """Hosts per batch for a play's serial, a count or a percentage, as Ansible computes it:
    a percentage is at least one host, a count below one means every host."""
    if serial.endswith("%"):
        return int(int(serial[:-1]) / 100.0 * host_count) or 1
    return int(serial) if int(serial) > 0 else host_count


def batches_of(host_names: list[str], serial: str) -> list[list[str]]:
    """The host batches of a serial play, in inventory order."""
    size = batch_size(serial, len(host_names))
    return [host_names[index : index + size] for index in range(0, len(host_names), size)]


def rollout_record(reports: dict[str, dict], host_names: list[str], serial: str) -> dict:
    """The structured result of one rollout playbook: batches, each host's module report
    without its process list, and every process step with its host."""
    steps = [
        {"host": host, **process}
        for host in host_names
        for process in reports.get(host, {}).get("processes", [])
    ]
    return {
        "serial": serial,
        "batches": batches_of(host_names, serial),
        "hosts": {
            host: {key: value for key, value in report.items() if key != "processes"}
            for host, report in reports.items()
        },
        "steps": steps,
    }


def rollout_playbook(name: str, *args: str, serial: str = "1", pipelining: bool = True) -> dict:
    """Run a rollout playbook: its wall time and the reports its hosts kept."""
    extra = ["-e", f"wsfleet_rolling_serial={serial}"] if serial != "1" else []
    began = time.time()
    wall, _ = playbook(name, *extra, *args, pipelining=pipelining)
    reports = read_rollout_reports(began)
    names = [host["name"] for host in hosts_of("app")]
    return {"wall_seconds": wall, **rollout_record(reports, names, serial)}


# --- Ansible speed ------------------------------------------------------------------------


def changed_total(output: str) -> int:
    return sum(changed_counts(output.split("PLAY RECAP")[-1]).values())


def measured_floor() -> list[dict]:
    """Every process of every app host replaced by surge, one after the other, without
    Ansible: per process, start to healthy, switch and drain (stop) seconds."""
    steps = []
    for host in hosts_of("app"):
        replaced = json.loads(on_host(host["address"], "probe.py", "floor", APP, RUNTIME_DIR))
        steps += [{"host": host["name"], **step} for step in replaced]
    return steps


def floor_total(steps: list[dict]) -> float:
    return sum(step["total_seconds"] for step in steps)


def restart_against_floor(restart: dict, floor: float) -> dict:
    return {**restart, "floor_seconds": floor, "ratio": restart["wall_seconds"] / floor}


def ansible_speed() -> dict:
    result: dict = {}
    say("first converge")
    result["first_converge_seconds"], _ = playbook("site.yml")
    say("no-op re-run, with and without pipelining")
    result["noop_seconds"], out = playbook("site.yml")
    result["noop_changed"] = changed_total(out)
    result["noop_seconds_without_pipelining"], _ = playbook("site.yml", pipelining=False)
    say("floor: every process replaced by surge without Ansible")
    result["floor_steps"] = measured_floor()
    floor = result["floor_seconds"] = floor_total(result["floor_steps"])
    result["rolling_restart"] = {}
    for mode, pipelining in (("pipelining", True), ("no_pipelining", False)):
        say(f"rolling restart without load ({mode})")
        restart = rollout_playbook("playbooks/rolling_restart.yml", pipelining=pipelining)
        result["rolling_restart"][mode] = restart_against_floor(restart, floor)
    return result


# --- under load ---------------------------------------------------------------------------


def edge_entry() -> tuple[str, str]:
    """Where clients reach the edge, (name, address): the first floating address, by the edges'
    shared name, when the fleet has some (keepalived gives it to edge1 while all is well); else
    the edge's own address and name."""
    floating = BENCH_FLEET.floating_addresses()
    if floating:
        return SHARED_NAME, floating[0]
    edge = hosts_of("edge")[0]
    return fleet_name(edge["name"]), edge["address"]


def edge_load(clients: int, rate: float, **overrides) -> LoadConfig:
    name, address = edge_entry()
    settings = dict(
        url=f"wss://{name}/",
        connect_to=address,
        ca_file=BENCH_FLEET.acme_root(),
        clients=clients,
        rate=rate,
        # Below the edge's handshake limit per client address (100/s): one address here.
        ramp_up=clients / 80,
        reconnect_jitter=0.5,
        grace=10,
    )
    return LoadConfig(**{**settings, **overrides})


def side_events(name: str, samples: list[list[float]], sampling_began: float) -> list[dict]:
    """When one process socket began or stopped answering, after its host's sampling began."""
    host, side = name.split("/", 1)
    from_the_start = samples[0][0] <= sampling_began
    was_up = samples[0][1] >= 0 if from_the_start else False
    events = []
    for at, count in samples[1:] if from_the_start else samples:
        up = count >= 0
        if up != was_up:
            event = "up" if up else "gone"
            events.append({"host": host, "socket": side, "event": event, "at": at})
        was_up = up
    return events


def socket_events(series: dict[str, list[list[float]]]) -> list[dict]:
    """Every socket that began or stopped answering while sampled, in time order."""
    began: dict[str, float] = {}
    for name, samples in series.items():
        host = name.split("/", 1)[0]
        if samples:
            began[host] = min(began.get(host, samples[0][0]), samples[0][0])
    events = [
        event
        for name, samples in sorted(series.items())
        if samples
        for event in side_events(name, samples, began[name.split("/", 1)[0]])
    ]
    return sorted(events, key=lambda event: event["at"])


def latest_counts(series: dict[str, list[list[float]]]) -> dict[str, int]:
    """The last count of every socket that answers in its last sample."""
    last = {name: samples[-1][1] for name, samples in series.items() if samples}
    return {name: count for name, count in last.items() if count >= 0}


class Samplers:
    """Open connections of every process socket of every app host, sampled on the hosts."""

    def __init__(self, started: float) -> None:
        self.series: dict[str, list[list[float]]] = {}
        self.processes: list[subprocess.Popen] = []
        self.readers: list[threading.Thread] = []
        self.started = started

    def start(self) -> None:
        for host in hosts_of("app"):
            process = ssh.start_script(
                BENCH_FLEET, host["address"], "probe.py", "sample", RUNTIME_DIR
            )
            self.processes.append(process)
            reader = threading.Thread(target=self._read, args=(host["name"], process), daemon=True)
            reader.start()
            self.readers.append(reader)

    def _read(self, host: str, process: subprocess.Popen) -> None:
        for line in process.stdout:
            now = round(time.monotonic() - self.started, 2)
            try:
                counts = json.loads(line)
            except ValueError:  # a line cut short when the sampler stops
                continue
            for path, count in counts.items():
                self.series.setdefault(f"{host}/{Path(path).stem}", []).append([now, count])

    def stop(self) -> None:
        """Stop sampling; the series are complete once this returns."""
        for process in self.processes:
            process.terminate()
        for reader in self.readers:
            reader.join(timeout=10)

    def balance_snapshot(self) -> dict:
        """Open connections of every answering process now, for the balance."""
        at = round(time.monotonic() - self.started, 2)
        return {"at": at, "connections": latest_counts(dict(self.series))}


def under_load(name: str, clients: int, action: Callable[[], dict]) -> dict:
    """Run action under clients through the edge; the load report, the sampled connections
    and the balance before and a few seconds after it, with what action returned."""
    say(f"{name} under {clients} clients at 1 message/s")
    runner = LoadRunner(edge_load(clients, 1.0))
    started = time.monotonic()
    runner.start()
    samplers = Samplers(started)
    samplers.start()
    try:
        runner.wait_connected(timeout=clients / 40 + 60)
        time.sleep(SETTLE_SECONDS)
        before = samplers.balance_snapshot()
        outcome = action()
        time.sleep(BALANCE_DELAY_SECONDS)
        after = samplers.balance_snapshot()
        report = runner.stop()
    finally:
        samplers.stop()
    return {
        "clients": clients,
        "rate": 1.0,
        **outcome,
        "load": report.to_dict(),
        "balance_before": before,
        "balance_after": after,
        "socket_events": socket_events(samplers.series),
        "connections": samplers.series,
    }


def new_release_source(version: str = "1.1.0") -> str:
    """A copy of the example app that differs from the live release by its version."""
    source = Path(tempfile.mkdtemp(prefix="wsfleet-bench-app-"))
    shutil.copytree(EXAMPLE_APP, source, dirs_exist_ok=True)
    pyproject = source / "pyproject.toml"
    text = pyproject.read_text().replace('version = "1.0.0"', f'version = "{version}"')
    pyproject.write_text(text)
    return str(source)


def rolling_restart() -> dict:
    return rollout_playbook("playbooks/rolling_restart.yml")


def deploy_new_release() -> dict:
    source = new_release_source()
    return rollout_playbook("playbooks/deploy.yml", "-e", f"wsfleet_app_source_path={source}")


# Results key, what runs, the action: the collection's rollouts under load.
COLLECTION_RUNS: tuple[tuple[str, str, Callable[[], dict]], ...] = (
    ("rolling_restart_under_load", "rolling restart", rolling_restart),
    ("deploy_under_load", "deploy", deploy_new_release),
)


# --- without the collection ---------------------------------------------------------------


def live_units() -> dict[str, list[str]]:
    """The live unit of every slot, by app host name."""
    return {
        host["name"]: json.loads(
            on_host(host["address"], "probe.py", "live-units", APP, RUNTIME_DIR)
        )
        for host in hosts_of("app")
    }


def restart_in_turn(units: list[str]) -> str:
    """A shell command restarting the units one after the other, with no wait between."""
    return " && ".join(f"systemctl restart {unit}" for unit in units)


def addresses() -> dict[str, str]:
    return {host["name"]: host["address"] for host in hosts_of("app")}


def restart_all_at_once() -> dict:
    """Every live process of every app host restarted at the same moment."""
    units, address = live_units(), addresses()
    started = time.monotonic()
    commands = [ssh_command(address[host], "systemctl", "restart", *units[host]) for host in units]
    processes = [
        subprocess.Popen(command, stderr=subprocess.PIPE, text=True) for command in commands
    ]
    errors = [process.communicate()[1] for process in processes if process.wait() != 0]
    wall = time.monotonic() - started
    if errors:
        raise RuntimeError(f"systemctl restart failed: {errors}")
    return {"wall_seconds": wall, "units": units}


def restart_one_by_one() -> dict:
    """Every live process restarted in turn, host after host, with no health wait."""
    units, address = live_units(), addresses()
    started = time.monotonic()
    for host, host_units in units.items():
        command = ssh_command(address[host], restart_in_turn(host_units))
        subprocess.run(command, check=True, capture_output=True)
    return {"wall_seconds": time.monotonic() - started, "units": units}


def surge_by_hand() -> dict:
    """The floor under load: every process replaced by surge, one after the other."""
    started = time.monotonic()
    steps = measured_floor()
    wall = time.monotonic() - started
    return {"wall_seconds": wall, "floor_seconds": floor_total(steps), "floor_steps": steps}


# Results key under baselines_under_load, what it is, the action.
BASELINES: tuple[tuple[str, str, Callable[[], dict]], ...] = (
    ("surge_by_hand", "surge by hand (the floor, no Ansible)", surge_by_hand),
    ("restart_all_at_once", "every process restarted at once", restart_all_at_once),
    ("restart_one_by_one", "one process at a time, no health gate", restart_one_by_one),
)


# --- scaling ------------------------------------------------------------------------------


def large_fleet() -> dict:
    """The rolling restart without load of 8 app hosts x 4 processes, in 4 host batches."""
    say(f"scaling: {LARGE_APP_HOSTS} app hosts x {LARGE_PROCESSES} processes")
    fleet_up(LARGE_APP_HOSTS, fresh=False)
    processes = f"wsfleet_app_processes={LARGE_PROCESSES}"
    converge, _ = playbook("site.yml", "-e", processes)
    say("floor of the large fleet")
    steps = measured_floor()
    say(f"rolling restart of the large fleet without load, serial {LARGE_SERIAL}")
    restart = rollout_playbook(
        "playbooks/rolling_restart.yml", "-e", processes, serial=LARGE_SERIAL
    )
    return {
        "app_hosts": LARGE_APP_HOSTS,
        "processes_per_host": LARGE_PROCESSES,
        "converge_seconds": converge,
        "floor_seconds": floor_total(steps),
        "floor_steps": steps,
        "rolling_restart": restart_against_floor(restart, floor_total(steps)),
    }


# --- capacity -----------------------------------------------------------------------------


def host_rss_kib(address: str, *pgrep: str) -> int:
    """Resident memory of a host's processes that pgrep finds with these arguments."""
    script = f"for p in $(pgrep {' '.join(pgrep)}); do grep VmRSS /proc/$p/status; done"
    out = ssh.shell(BENCH_FLEET, address, script)
    return sum(int(n) for n in re.findall(r"VmRSS:\s+(\d+)", out))


def app_rss_kib() -> int:
    return sum(host_rss_kib(host["address"], "-f", "wsfleet-echo") for host in hosts_of("app"))


def hold_idle(clients: int, compression: bool | None) -> tuple[LoadRunner, str | None]:
    runner = LoadRunner(edge_load(clients, 0.0, compression=compression))
    runner.start()
    try:
        runner.wait_connected(timeout=clients / 40 + 120)
        return runner, None
    except (TimeoutError, RuntimeError) as error:
        return runner, str(error)[:300]


def edge_capacity(target: int) -> dict:
    """Idle connections held through the edge, up to target, and the first error if any."""
    runner, error = hold_idle(target, None)
    snapshot = runner.snapshot()
    runner.stop()
    return {
        "held": snapshot.peak_open_connections,
        "first_error": error,
        "handshakes_failed": snapshot.handshakes_failed,
        "handshake_failures": dict(snapshot.handshake_failures),
        "steps": [
            [second.open, True]
            for second in snapshot.timeline[:: max(1, len(snapshot.timeline) // 20)]
        ],
    }


def capacity(target: int) -> dict:
    say(f"capacity: up to {target} idle connections through the edge")
    result = {"target": target, "edge": edge_capacity(target), "memory": {}}
    for label, compression in (("compression_on", True), ("compression_off", False)):
        say(f"memory per idle connection, {label}")
        # Fresh processes: Python keeps the memory of connections closed earlier, so a
        # process that held connections before would hide the cost of new ones.
        playbook("playbooks/rolling_restart.yml")
        time.sleep(5)
        before = app_rss_kib()
        clients = 3000
        runner, _ = hold_idle(clients, compression)
        time.sleep(5)
        after = app_rss_kib()
        held = runner.snapshot().open_connections
        runner.stop()
        result["memory"][label] = {
            "connections": held,
            "rss_before_kib": before,
            "rss_after_kib": after,
            "per_connection_kib": (after - before) / held if held else None,
        }
    return result


# --- latency ------------------------------------------------------------------------------


def latency_summary(samples: list[float]) -> dict:
    """Round trips (ms): nearest-rank percentiles and the samples, to the microsecond."""
    summary = stats.percentiles(samples, LATENCY_POINTS, digits=3)
    return {**summary, "samples": [round(sample, 3) for sample in samples]}


async def echo_round_trips(url: str, address: str, count: int, cafile: str | None) -> list[float]:
    tls = ssl.create_default_context(cafile=cafile) if url.startswith("wss") else None
    port = 443 if tls else 80
    options = {"ssl": tls} if tls else {}
    samples = []
    async with connect(url, host=address, port=port, **options) as websocket:
        for number in range(count):
            started = time.perf_counter()
            await websocket.send(str(number))
            await websocket.recv()
            samples.append((time.perf_counter() - started) * 1000)
    return samples


def edge_round_trips(count: int) -> list[float]:
    """Sequential echo round trips (ms) through the edge over TLS, on one connection."""
    name, address = edge_entry()
    url, ca_file = f"wss://{name}/", BENCH_FLEET.acme_root()
    return asyncio.run(echo_round_trips(url, address, count, ca_file))


def latency(count: int = 2000) -> dict:
    say("latency: edge with TLS, one app host's NGINX, one process on its host")
    app = hosts_of("app")[0]
    through_edge = edge_round_trips(count)
    through_app_nginx = asyncio.run(
        echo_round_trips(f"ws://{app['name']}/", app["address"], count, None)
    )
    direct = on_host(
        app["address"], "ws_probe.py", "latency", slot_link(1), str(count), python=APP_PYTHON
    )
    return {
        "edge_tls": latency_summary(through_edge),
        "app_host_nginx": latency_summary(through_app_nginx),
        "process_direct": latency_summary(json.loads(direct)),
    }


# --- main ---------------------------------------------------------------------------------


def measure(results: dict, args: argparse.Namespace, save: Callable[[], None]) -> None:
    """Every measurement in turn on a fresh fleet, the results saved after each."""
    say(f"fleet {FLEET}")
    fleet_up(fresh=True)
    results["ansible"] = ansible_speed()
    save()
    for key, name, action in COLLECTION_RUNS:
        results[key] = under_load(name, args.clients, action)
        save()
    results["baselines_under_load"] = {}
    for key, name, action in BASELINES:
        results["baselines_under_load"][key] = under_load(name, args.clients, action)
        save()
    results["latency"] = latency()
    save()
    results["capacity"] = capacity(args.capacity)
    save()
    if args.large:
        results["large_fleet"] = large_fleet()
        save()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = benchmark.parser(__doc__)
    parser.add_argument("--capacity", type=int, default=8000)
    parser.add_argument(
        "--large",
        action="store_true",
        help=f"last, grow the fleet to {LARGE_APP_HOSTS} app hosts x {LARGE_PROCESSES} processes "
        "and time its rolling restart",
    )
    args = parser.parse_args(argv)
    out = benchmark.output_folder(args.out)
    fleet = {"app_hosts": APP_HOSTS, "processes_per_host": os.cpu_count(), "edge_hosts": 1}
    results = benchmark.new_results("bench.run", argv, fleet=fleet)
    began = time.monotonic()

    def save() -> None:
        results["duration_seconds"] = round(time.monotonic() - began, 1)
        results["figures"] = results_figures(results)
        (out / "results.json").write_text(json.dumps(results, indent=1) + "\n")
        write_report(results, out)

    benchmark.on_fleet(lambda: measure(results, args, save), fleet_down, args.keep_fleet)
    say(f"report: {out / 'README.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
