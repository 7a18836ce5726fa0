"""The faults report: what clients saw when the fleet met each fault, and how long it took to
recover, measured by the molecule faults scenario, `worst_case`, under live load (its tests
assert the behaviour; this turns the figures they record into a report).

    .venv/bin/python -m bench.faults --out docs/benchmarks

runs `molecule test -s worst_case` on the shared local fleet, keeps `faults.json` and
writes `faults.md` beside it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
COMMAND = ".venv/bin/python -m bench.faults --out docs/benchmarks"

FAULTS = {
    "edge_nginx_killed": "The edge's NGINX killed with SIGKILL (it comes back by itself)",
    "edge_cut_off_from_an_app_host": "The edge cut off from one app host (its packets dropped)",
    "crash_looping_release": "A release whose processes crash at start, deployed",
    "full_disk_during_deploy": "An app host's releases filesystem full during a deploy",
    "app_host_stopped_mid_deploy": "An app host stopped in the middle of a rolling deploy",
    "controller_killed_mid_rollout": (
        "The controller (and the module on the host) killed with SIGKILL mid-surge, then a re-run"
    ),
}
EXTRA = {
    "back_after_seconds": "edge answering again after (s)",
    "new_handshake_seconds_max": "slowest new handshake during the cut (s)",
    "new_handshake_seconds_median": "median new handshake during the cut (s)",
    "new_handshake_seconds_max_with_a_host_down": "slowest new handshake, one host down (s)",
    "rerun_seconds": "the re-run that healed the fleet took (s)",
}


def run_scenario(figures_file: Path) -> None:
    environment = {**os.environ, "WSFLEET_FAULTS_REPORT": str(figures_file)}
    molecule = str(Path(sys.executable).parent / "molecule")
    subprocess.run([molecule, "test", "-s", "worst_case"], cwd=PROJECT, env=environment, check=True)


def closes(counts: dict[str, int]) -> str:
    return ", ".join(f"{code}: {count}" for code, count in counts.items()) or "none"


def fault_rows(name: str, figures: dict) -> list[str]:
    rows = [
        f"| clients | {figures['clients']} |",
        f"| failed handshakes | {figures['handshakes_failed']} |",
        f"| abnormal closures (1006) | {figures['abnormal_closures']} |",
        f"| server closes by code | {closes(figures['server_closes'])} |",
        f"| messages sent / lost | {figures['messages_sent']} / {figures['messages_lost']} |",
    ]
    delay = figures.get("reconnect_delay") or {}
    if delay.get("p99") is not None:
        rows.append(f"| reconnect delay p50 / p99 (s) | {delay['p50']:.2f} / {delay['p99']:.2f} |")
    rows += [f"| {label} | {figures[key]} |" for key, label in EXTRA.items() if key in figures]
    return [f"### {FAULTS.get(name, name)}", "", "| what | measured |", "|---|---|", *rows, ""]


def render(results: dict, machine: str) -> str:
    lines = [
        "# Faults",
        "",
        "Each fault met under live WebSocket load through the edge (wss://, one message per",
        "client per second, numbered and resent after a reconnect). Clients of a host that dies,",
        "or whose connections a fault cuts, see 1006: counted here, expected. The molecule",
        "`worst_case` scenario asserts what must hold (no message lost, new handshakes served, the",
        "fleet whole again after a re-run); these are its figures.",
        "",
        f"Command: `{COMMAND}`. Machine: {machine}.",
        "",
    ]
    for name in FAULTS:
        if name in results:
            lines += fault_rows(name, results[name])
    missing = [name for name in FAULTS if name not in results]
    if missing:
        lines += ["Not measured in this run: " + ", ".join(missing) + ".", ""]
    return "\n".join(lines)


def machine_line() -> str:
    cores = os.cpu_count()
    memory = Path("/proc/meminfo").read_text().split("\n", 1)[0].split()[1]
    return f"{cores} cores, {int(memory) // 1024 // 1024} GiB"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=PROJECT / "docs" / "benchmarks")
    parser.add_argument(
        "--render-only", action="store_true", help="write faults.md from the faults.json there"
    )
    args = parser.parse_args(argv)
    # The scenario's tests run in their own folder: the path they write to must be absolute.
    figures_file = args.out.resolve() / "faults.json"
    if not args.render_only:
        run_scenario(figures_file)
    results = json.loads(figures_file.read_text())
    (args.out.resolve() / "faults.md").write_text(render(results, machine_line()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
