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

from wsfleet_support.benchmark import DEFAULT_OUT
from wsfleet_support.markdown import render as render_template
from wsfleet_support.paths import PROJECT

TEMPLATES = Path(__file__).resolve().parent / "templates"
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


def render(results: dict, machine: str) -> str:
    # The template reads the fault names, the extra figures and closes() from this module.
    faults = sys.modules[__name__]
    return render_template(
        TEMPLATES, "faults.md.j2", results=results, machine=machine, bench=faults
    )


def machine_line() -> str:
    cores = os.cpu_count()
    memory = Path("/proc/meminfo").read_text().split("\n", 1)[0].split()[1]
    return f"{cores} cores, {int(memory) // 1024 // 1024} GiB"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
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
