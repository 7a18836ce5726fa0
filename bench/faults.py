"""The faults report: what clients saw when the fleet met each fault, and how long it took to
recover, measured by the molecule faults scenario, `worst_case`, under live load (its tests
assert the behaviour; this turns the figures they record into a report), with NGINX and with
HAProxy at the edge, side by side.

    .venv/bin/python -m bench.faults --out docs/benchmarks [--clients 2000]
                                     [--routers nginx haproxy] [--render-only]

runs `molecule verify -s worst_case` on the shared local fleet (created and converged by the
default scenario: `molecule create && molecule converge` first) once per router: for HAProxy,
the edge hosts are switched to it first (`molecule converge` with wsfleet_router set for the
edge group only, which the scenario's own site.yml runs keep) and back to NGINX after. Keeps
`faults.json` ({router: {fault: figures}}) and writes `faults.md` beside it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from wsfleet_support.benchmark import DEFAULT_OUT
from wsfleet_support.markdown import render as render_template
from wsfleet_support.paths import PROJECT

TEMPLATES = Path(__file__).resolve().parent / "templates"
COMMAND = ".venv/bin/python -m bench.faults --out docs/benchmarks --clients 2000"
ROUTERS = ("nginx", "haproxy")
# The router of the edge hosts only (the app hosts keep NGINX): Ansible works it out per host.
EDGE_ROUTER = (
    "{{{{ '{router}' if inventory_hostname in groups[wsfleet_edge_hosts] else 'nginx' }}}}"
)

FAULTS = {
    "edge_host_stopped": (
        "The edge host holding a floating address stopped (the address moves to the other edge)"
    ),
    "edge_maintenance": "An edge put into maintenance and back (its address moves away and back)",
    "edge_router_killed": "The edge's router killed with SIGKILL (it comes back by itself)",
    "edge_cut_off_from_an_app_host": "The edge cut off from one app host (its packets dropped)",
    "crash_looping_release": "A release whose processes crash at start, deployed",
    "full_disk_during_deploy": "An app host's releases filesystem full during a deploy",
    "app_host_stopped_mid_deploy": "An app host stopped in the middle of a rolling deploy",
    "controller_killed_mid_rollout": (
        "The controller (and the module on the host) killed with SIGKILL mid-surge, then a re-run"
    ),
}
EXTRA = {
    "address_back_after_seconds": "the address answering from the other edge after (s)",
    "other_edge_clients": "clients of the other edge",
    "other_edge_abnormal_closures": "... of which cut (1006)",
    "back_after_seconds": "edge answering again after (s)",
    "addresses_moved": "its floating addresses moved meanwhile",
    "new_handshake_seconds_max": "slowest new handshake during the cut (s)",
    "new_handshake_seconds_median": "median new handshake during the cut (s)",
    "new_handshake_seconds_max_with_a_host_down": "slowest new handshake, one host down (s)",
    "rerun_seconds": "the re-run that healed the fleet took (s)",
}


def molecule(*args: str, env: dict[str, str] | None = None) -> None:
    command = [str(Path(sys.executable).parent / "molecule"), *args]
    subprocess.run(command, cwd=PROJECT, env={**os.environ, **(env or {})}, check=True)


def fresh_fleet() -> None:
    molecule("destroy")
    molecule("create")
    molecule("converge")


def edge_switch(router: str) -> list[str]:
    """molecule converge's extra arguments that put router at the edge (none for NGINX)."""
    if router == "nginx":
        return []
    return ["--", "--extra-vars", json.dumps({"wsfleet_router": EDGE_ROUTER.format(router=router)})]


def run_scenario(router: str, figures_file: Path, clients: int) -> None:
    """worst_case's tests with router at the edge, their figures written to figures_file."""
    switch = edge_switch(router)
    if switch:
        molecule("converge", *switch)
    environment = {
        "WSFLEET_FAULTS_REPORT": str(figures_file),
        "WSFLEET_FAULTS_CLIENTS": str(clients),
        "WSFLEET_FAULTS_EDGE_ROUTER": router,
        "WSFLEET_TEST_EXTRA_VARS": switch[-1] if switch else "",
    }
    try:
        molecule("verify", "-s", "worst_case", env=environment)
    finally:
        if switch:
            molecule("converge")


ROUTER_NAMES = {"nginx": "NGINX", "haproxy": "HAProxy"}


def closes(counts: dict[str, int]) -> str:
    return ", ".join(f"{code}: {count}" for code, count in counts.items()) or "none"


def reconnect_delay(figures: dict) -> str:
    delay = figures.get("reconnect_delay") or {}
    if delay.get("p99") is None:
        return ""
    return f"{delay['p50']:.2f} / {delay['p99']:.2f}"


# Each fault's table: its rows, a cell per router from that router's figures.
ROWS = (
    ("clients", lambda figures: figures["clients"]),
    ("failed handshakes", lambda figures: figures["handshakes_failed"]),
    ("abnormal closures (1006)", lambda figures: figures["abnormal_closures"]),
    ("server closes by code", lambda figures: closes(figures["server_closes"])),
    (
        "messages sent / lost",
        lambda figures: f"{figures['messages_sent']} / {figures['messages_lost']}",
    ),
    ("reconnect delay p50 / p99 (s)", reconnect_delay),
)


def extra_cell(figures: dict | None, key: str):
    value = figures.get(key, "-") if figures else "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return value


def fault_tables(results: dict) -> list[tuple[str, list[tuple[str, list]]]]:
    """(title, [(row label, [cell per router])]) of every fault measured with some router."""
    tables = []
    for name, title in FAULTS.items():
        measured = [figures.get(name) for figures in results.values()]
        if not any(measured):
            continue
        rows = [
            (label, [cell(figures) if figures else "-" for figures in measured])
            for label, cell in ROWS
        ]
        rows += [
            (label, [extra_cell(figures, key) for figures in measured])
            for key, label in EXTRA.items()
            if any(figures and key in figures for figures in measured)
        ]
        shown = [(label, cells) for label, cells in rows if set(map(str, cells)) - {"", "-"}]
        tables.append((title, shown))
    return tables


def not_measured(results: dict) -> list[str]:
    return [name for name in FAULTS if not any(name in figures for figures in results.values())]


def render(results: dict, machine: str) -> str:
    """results: {router: {fault: figures}}."""
    return render_template(
        TEMPLATES,
        "faults.md.j2",
        routers=[ROUTER_NAMES.get(router, router) for router in results],
        tables=fault_tables(results),
        missing=not_measured(results),
        machine=machine,
        command=COMMAND,
    )


def machine_line() -> str:
    cores = os.cpu_count()
    memory = Path("/proc/meminfo").read_text().split("\n", 1)[0].split()[1]
    return f"{cores} cores, {int(memory) // 1024 // 1024} GiB"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--clients", type=int, default=2000, help="live clients during each fault")
    parser.add_argument("--routers", nargs="+", choices=ROUTERS, default=list(ROUTERS))
    parser.add_argument(
        "--render-only", action="store_true", help="write faults.md from the faults.json there"
    )
    args = parser.parse_args(argv)
    # The scenario's tests run in their own folder: the paths they write to must be absolute.
    out = args.out.resolve()
    figures_file = out / "faults.json"
    if not args.render_only:
        results = {}
        for number, router in enumerate(args.routers):
            if number:
                # The scenario leaves its releases installed: the next router's run starts from a
                # fleet made and converged anew, as the first did.
                fresh_fleet()
            router_file = out / f"faults-{router}.json"
            run_scenario(router, router_file, args.clients)
            results[router] = json.loads(router_file.read_text())
            # Kept as each router ends: a later router's failure does not lose it.
            figures_file.write_text(json.dumps(results, indent=2) + "\n")
            router_file.unlink()
    results = json.loads(figures_file.read_text())
    (out / "faults.md").write_text(render(results, machine_line()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
