"""The benchmark report, reproduced by one command on a local fleet of its own.

    .venv/bin/python -m bench.run [--out docs/benchmarks] [--clients 2000] [--capacity 8000]
                                  [--keep-fleet]

It brings up a fleet named wsfleet-bench (3 app hosts with 2 processes each, 1 edge, 1 ACME
host), deploys with site.yml, then measures, writing everything to OUT/results.json and the
report (bench/report.py) next to it:

- Ansible speed: first converge, no-op re-run with and without pipelining, rolling restart
  wall time with and without pipelining against its floor: the sum, over the sequential
  steps, of drain time plus start-to-healthy time, measured on the hosts without Ansible.
- Rolling restart and deploy under load: CLIENTS wss:// clients through the edge at 1 message
  per second (bench/wsload.py), open connections of every process sampled on the hosts.
- Capacity: idle connections held through the edge with the defaults, up to CAPACITY; memory
  per idle connection in the app processes, with and without permessage-deflate.
- Latency: echo round trips through the edge (TLS), through one app host's NGINX, and
  straight to one process (measured on its host).

Load goes only to the fleet's own hosts. Timings are measurements, never test assertions.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import shutil
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from websockets.asyncio.client import connect

from bench.report import write_report
from bench.wsload import LoadConfig, LoadRunner, raise_open_files_limit

PROJECT = Path(__file__).resolve().parent.parent
FLEET = "wsfleet-bench"
STATE = PROJECT / ".fleet" / FLEET
INVENTORY = PROJECT / "inventories" / "local" / "bench-hosts.yml"
BIN = Path(sys.executable).parent
APP = "echo"
DOMAIN = "wsfleet.test"
# One line per process in the playbooks' restart report.
REPORT_LINE = re.compile(
    r"process (\d+): \S+ connections drained in ([\d.]+) s, healthy ([\d.]+) s after its start"
)
HOST_LINE = re.compile(r'"(\w+): release \S+ live;')

# The start of the scripts below, run on app hosts with python3 (stdlib only): HTTP over the
# unix socket of one process.
UNIX_HTTP = r"""
import http.client, json, socket, subprocess, sys, time
class Unix(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost", timeout=1)
        self.path = path
    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.settimeout(1)
        self.sock.connect(self.path)
"""

# Every process's open connections, as JSON lines.
SAMPLER = (
    UNIX_HTTP
    + r"""
def count(path):
    try:
        c = Unix(path); c.request("GET", "/healthz"); r = c.getresponse()
        body = json.loads(r.read()); c.close()
        return body["connections"] if r.status == 200 else -1
    except Exception:
        return -1
sockets = sys.argv[1:]
while True:
    print(json.dumps({s: count(s) for s in sockets}), flush=True)
    time.sleep(0.25)
"""
)

# The floor of one rolling restart step, without Ansible.
FLOOR_STEP = (
    UNIX_HTTP
    + r"""
def healthy(path):
    try:
        c = Unix(path); c.request("GET", "/healthz"); ok = c.getresponse().status == 200; c.close()
        return ok
    except Exception:
        return False
unit, path = sys.argv[1], sys.argv[2]
t0 = time.monotonic(); subprocess.run(["systemctl", "stop", unit], check=True)
t1 = time.monotonic(); subprocess.run(["systemctl", "start", unit], check=True)
while not healthy(path):
    time.sleep(0.01)
t2 = time.monotonic()
print(json.dumps({"drain_seconds": t1 - t0, "start_to_healthy_seconds": t2 - t1}))
"""
)

# Runs on an app host with the app's virtualenv: sequential echo round trips on one socket.
DIRECT_LATENCY = r"""
import json, sys, time
from websockets.sync.client import unix_connect
samples = []
with unix_connect(sys.argv[1], uri="ws://localhost/") as ws:
    for n in range(int(sys.argv[2])):
        t = time.perf_counter()
        ws.send(str(n))
        ws.recv()
        samples.append((time.perf_counter() - t) * 1000)
print(json.dumps(samples))
"""


def say(message: str) -> None:
    print(f"bench: {message}", flush=True)


def run(command: list[str], *, env: dict | None = None, check: bool = True) -> tuple[float, str]:
    """Run a command from the project root; return its wall time and its output."""
    started = time.monotonic()
    result = subprocess.run(
        command, cwd=PROJECT, capture_output=True, text=True, env={**os.environ, **(env or {})}
    )
    elapsed = time.monotonic() - started
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{result.stdout[-3000:]}{result.stderr}")
    return elapsed, result.stdout


def playbook(name: str, *args: str, pipelining: bool = True) -> tuple[float, str]:
    env = {"ANSIBLE_NOCOLOR": "1", "ANSIBLE_PIPELINING": "True" if pipelining else "False"}
    return run([str(BIN / "ansible-playbook"), "-i", str(INVENTORY), name, *args], env=env)


def hosts() -> list[dict]:
    return json.loads((STATE / "hosts.json").read_text())


def hosts_of(group: str) -> list[dict]:
    return [host for host in hosts() if host["group"] == group]


def ssh_command(address: str, *remote: str) -> list[str]:
    return [
        "ssh", "-i", str(PROJECT / ".fleet" / "ssh" / "id_ed25519"),
        "-o", f"UserKnownHostsFile={STATE / 'known_hosts'}", "-o", "StrictHostKeyChecking=yes",
        "-o", "BatchMode=yes", f"root@{address}", *remote,
    ]  # fmt: skip


def on_host(address: str, script: str, *args: str, python: str = "python3") -> str:
    command = ssh_command(address, python, "-c", _quote(script), *args)
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout


def _quote(script: str) -> str:
    return "'" + script.replace("'", "'\"'\"'") + "'"


def sockets(count: int) -> list[str]:
    return [f"/run/{APP}/{number}.sock" for number in range(1, count + 1)]


def process_count(address: str) -> int:
    out = subprocess.run(
        ssh_command(address, "ls", f"/run/{APP}"), check=True, capture_output=True, text=True
    ).stdout
    return len([name for name in out.split() if name.endswith(".sock")])


# --- the fleet ----------------------------------------------------------------------------


def fleet_up(fresh: bool) -> None:
    fleet = [sys.executable, "fleet/localfleet.py"]
    if fresh:
        run([*fleet, "down", "--name", FLEET, "--inventory", str(INVENTORY)], check=False)
    run([*fleet, "up", "--name", FLEET, "--inventory", str(INVENTORY)])
    playbook("fleet/acme.yml")


# --- Ansible speed ------------------------------------------------------------------------


def changed_total(output: str) -> int:
    return sum(int(n) for n in re.findall(r"changed=(\d+)", output.split("PLAY RECAP")[-1]))


def restart_steps(output: str) -> list[dict]:
    """Per process of the playbook's restart report: host, process, drain and healthy times."""
    steps, host = [], None
    for line in output.splitlines():
        if match := HOST_LINE.search(line):
            host = match.group(1)
        elif match := REPORT_LINE.search(line):
            steps.append(
                {
                    "host": host,
                    "process": int(match.group(1)),
                    "drain_seconds": float(match.group(2)),
                    "start_to_healthy_seconds": float(match.group(3)),
                }
            )
    return steps


def measured_floor() -> tuple[float, list[dict]]:
    """Drain plus start-to-healthy of every process, one after the other, without Ansible."""
    steps = []
    for host in hosts_of("app"):
        for number, path in enumerate(sockets(process_count(host["address"])), start=1):
            step = json.loads(on_host(host["address"], FLOOR_STEP, f"{APP}@{number}", path))
            steps.append({"host": host["name"], "process": number, **step})
    total = sum(s["drain_seconds"] + s["start_to_healthy_seconds"] for s in steps)
    return total, steps


def ansible_speed() -> dict:
    result: dict = {}
    say("first converge")
    result["first_converge_seconds"], _ = playbook("site.yml")
    say("no-op re-run, with and without pipelining")
    result["noop_seconds"], out = playbook("site.yml")
    result["noop_changed"] = changed_total(out)
    result["noop_seconds_without_pipelining"], _ = playbook("site.yml", pipelining=False)
    floor, floor_steps = measured_floor()
    result["floor_seconds"] = floor
    result["floor_steps"] = floor_steps
    result["rolling_restart"] = {}
    for mode, pipelining in (("pipelining", True), ("no_pipelining", False)):
        say(f"rolling restart without load ({mode})")
        wall, out = playbook("playbooks/rolling_restart.yml", pipelining=pipelining)
        result["rolling_restart"][mode] = {
            "wall_seconds": wall,
            "floor_seconds": floor,
            "ratio": wall / floor,
            "steps": restart_steps(out),
        }
    return result


# --- under load ---------------------------------------------------------------------------


def edge_load(clients: int, rate: float, **overrides) -> LoadConfig:
    edge = hosts_of("edge")[0]
    settings = dict(
        url=f"wss://{edge['name']}.{DOMAIN}/",
        connect_to=edge["address"],
        ca_file=str(STATE / "acme-root.pem"),
        clients=clients,
        rate=rate,
        # Below the edge's handshake limit per client address (100/s): one address here.
        ramp_up=clients / 80,
        reconnect_jitter=0.5,
        grace=10,
    )
    return LoadConfig(**{**settings, **overrides})


class Samplers:
    """Open connections of every process of every app host, sampled on the hosts."""

    def __init__(self) -> None:
        self.series: dict[str, list[list[float]]] = {}
        self.processes: list[subprocess.Popen] = []
        self.started = time.monotonic()

    def start(self, started: float) -> None:
        self.started = started
        for host in hosts_of("app"):
            paths = sockets(process_count(host["address"]))
            command = ssh_command(host["address"], "python3", "-u", "-c", _quote(SAMPLER), *paths)
            process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
            self.processes.append(process)
            threading.Thread(target=self._read, args=(host["name"], process), daemon=True).start()

    def _read(self, host: str, process: subprocess.Popen) -> None:
        for line in process.stdout:
            now = time.monotonic() - self.started
            for path, count in json.loads(line).items():
                number = Path(path).stem
                self.series.setdefault(f"{host}/{number}", []).append([round(now, 2), count])

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()

    def restarts(self) -> list[dict]:
        """When each process stopped answering, and when it answered again."""
        found = []
        for name, samples in sorted(self.series.items()):
            down = None
            for at, count in samples:
                if count < 0 and down is None:
                    down = at
                elif count >= 0 and down is not None:
                    host, process = name.split("/")
                    found.append(
                        {
                            "host": host,
                            "process": int(process),
                            "stopped_at": down,
                            "healthy_at": at,
                        }
                    )
                    down = None
        return found


def under_load(name: str, clients: int, play: list[str]) -> dict:
    say(f"{name} under {clients} clients at 1 message/s")
    runner = LoadRunner(edge_load(clients, 1.0))
    started = time.monotonic()
    runner.start()
    samplers = Samplers()
    samplers.start(started)
    runner.wait_connected(timeout=clients / 40 + 60)
    time.sleep(5)
    wall, out = playbook(*play)
    time.sleep(5)
    report = runner.stop()
    samplers.stop()
    return {
        "clients": clients,
        "rate": 1.0,
        "wall_seconds": wall,
        "load": report.to_dict(),
        "restarts": samplers.restarts(),
        "connections": samplers.series,
        "steps": restart_steps(out),
    }


def new_release_source() -> str:
    source = Path(tempfile.mkdtemp(prefix="wsfleet-bench-app-"))
    shutil.copytree(PROJECT / "examples" / "echo_app", source, dirs_exist_ok=True)
    pyproject = source / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('version = "1.0.0"', 'version = "1.1.0"'))
    return str(source)


# --- capacity -----------------------------------------------------------------------------


def app_rss_kib() -> int:
    total = 0
    for host in hosts_of("app"):
        out = subprocess.run(
            ssh_command(host["address"], "sh", "-c", _quote(
                "for p in $(pgrep -f wsfleet-echo); do grep VmRSS /proc/$p/status; done"
            )),
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        total += sum(int(n) for n in re.findall(r"VmRSS:\s+(\d+)", out))
    return total


def hold_idle(clients: int, compression: bool | None) -> tuple[LoadRunner, str | None]:
    runner = LoadRunner(edge_load(clients, 0.0, compression=compression))
    runner.start()
    try:
        runner.wait_connected(timeout=clients / 40 + 120)
        return runner, None
    except (TimeoutError, RuntimeError) as error:
        return runner, str(error)[:300]


def capacity(target: int) -> dict:
    say(f"capacity: up to {target} idle connections through the edge")
    runner, error = hold_idle(target, None)
    snapshot = runner.snapshot()
    runner.stop()
    result = {
        "target": target,
        "edge": {
            "held": snapshot.peak_open_connections,
            "first_error": error,
            "handshakes_failed": snapshot.handshakes_failed,
            "handshake_failures": dict(snapshot.handshake_failures),
            "steps": [
                [second.open, True]
                for second in snapshot.timeline[:: max(1, len(snapshot.timeline) // 20)]
            ],
        },
        "memory": {},
    }
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


def percentiles(samples: list[float]) -> dict:
    ordered = sorted(samples)

    def at(fraction: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(fraction * len(ordered)))], 3)

    return {
        "p50": at(0.5), "p90": at(0.9), "p99": at(0.99), "p999": at(0.999),
        "max": round(ordered[-1], 3), "samples": [round(s, 3) for s in samples],
    }  # fmt: skip


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


def latency(count: int = 2000) -> dict:
    say("latency: edge with TLS, one app host's NGINX, one process on its host")
    edge, app = hosts_of("edge")[0], hosts_of("app")[0]
    through_edge = asyncio.run(
        echo_round_trips(
            f"wss://{edge['name']}.{DOMAIN}/", edge["address"], count, str(STATE / "acme-root.pem")
        )
    )
    through_app_nginx = asyncio.run(
        echo_round_trips(f"ws://{app['name']}/", app["address"], count, None)
    )
    direct = json.loads(
        on_host(
            app["address"], DIRECT_LATENCY, sockets(1)[0], str(count),
            python=f"/srv/{APP}/current/venv/bin/python",
        )
    )  # fmt: skip
    return {
        "edge_tls": percentiles(through_edge),
        "app_host_nginx": percentiles(through_app_nginx),
        "process_direct": percentiles(direct),
    }


# --- main ---------------------------------------------------------------------------------


def machine() -> dict:
    memory_kib = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))
    os_name = re.search(r'PRETTY_NAME="([^"]+)"', Path("/etc/os-release").read_text()).group(1)
    return {
        "cpus": os.cpu_count(),
        "memory_gib": round(memory_kib / 1024 / 1024),
        "os": os_name,
        "kernel": platform.release(),
        "python": platform.python_version(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", default=str(PROJECT / "docs" / "benchmarks"))
    parser.add_argument("--clients", type=int, default=2000)
    parser.add_argument("--capacity", type=int, default=8000)
    parser.add_argument("--keep-fleet", action="store_true", help="leave the fleet up afterwards")
    args = parser.parse_args(argv)
    raise_open_files_limit()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results: dict = {
        "command": "python -m bench.run " + " ".join(argv if argv is not None else sys.argv[1:]),
        "started": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": machine(),
        "fleet": {"app_hosts": 3, "processes_per_host": os.cpu_count(), "edge_hosts": 1},
    }
    began = time.monotonic()

    def save() -> None:
        results["duration_seconds"] = round(time.monotonic() - began, 1)
        (out / "results.json").write_text(json.dumps(results, indent=1) + "\n")
        write_report(results, out)

    try:
        say(f"fleet {FLEET}")
        fleet_up(fresh=True)
        results["ansible"] = ansible_speed()
        save()
        results["rolling_restart_under_load"] = under_load(
            "rolling restart", args.clients, ["playbooks/rolling_restart.yml"]
        )
        save()
        results["deploy_under_load"] = under_load(
            "deploy",
            args.clients,
            ["playbooks/deploy.yml", "-e", f"wsfleet_app_source_path={new_release_source()}"],
        )
        save()
        results["latency"] = latency()
        save()
        results["capacity"] = capacity(args.capacity)
        save()
    finally:
        if not args.keep_fleet:
            run([sys.executable, "fleet/localfleet.py", "down", "--name", FLEET,
                 "--inventory", str(INVENTORY)], check=False)  # fmt: skip
    say(f"report: {out / 'README.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
