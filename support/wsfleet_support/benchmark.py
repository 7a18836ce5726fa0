"""What every benchmark command of bench/ shares: its command line's common options, the
header of its results (the command, when, on what machine), and its run on a fleet brought
down at the end unless kept."""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shlex
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from wsfleet_support.paths import PROJECT
from wsfleet_support.wsload import raise_open_files_limit

DEFAULT_OUT = PROJECT / "docs" / "benchmarks"


def machine() -> dict:
    """The machine the benchmark runs on: CPUs, memory, OS, kernel, Python."""
    memory_kib = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))
    os_name = re.search(r'PRETTY_NAME="([^"]+)"', Path("/etc/os-release").read_text()).group(1)
    return {
        "cpus": os.cpu_count(),
        "memory_gib": round(memory_kib / 1024 / 1024),
        "os": os_name,
        "kernel": platform.release(),
        "python": platform.python_version(),
    }


def parser(
    description: str, *, clients: bool = True, reuse_fleet: bool = False
) -> argparse.ArgumentParser:
    """A benchmark's command line: --out, --clients (unless not asked), --keep-fleet, and
    --reuse-fleet when asked; the benchmark adds its own."""
    parsed = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parsed.add_argument("--out", default=str(DEFAULT_OUT))
    if clients:
        parsed.add_argument("--clients", type=int, default=2000)
    parsed.add_argument("--keep-fleet", action="store_true", help="leave the fleet up afterwards")
    if reuse_fleet:
        parsed.add_argument(
            "--reuse-fleet",
            action="store_true",
            help="measure on the fleet already up and deployed",
        )
    return parsed


def new_results(module: str, argv: Sequence[str], **fields: object) -> dict:
    """The start of a results file: the command that made it, when, and on what machine."""
    return {
        "command": f"python -m {module} {shlex.join(argv)}".rstrip(),
        "started": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": machine(),
        **fields,
    }


def output_folder(out: str | os.PathLike) -> Path:
    """The folder the results go to, made if missing; also raises the open files limit, which
    every benchmark's clients need."""
    raise_open_files_limit()
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def save_outputs(
    out: Path,
    results: dict,
    names: tuple[str, str],
    figures: Callable[[dict], dict],
    render: Callable[[dict], str],
) -> None:
    """The results, their figures recomputed, as JSON and as the report rendered from them:
    names is (results file, report file) in the folder out."""
    results["figures"] = figures(results)
    results_name, report_name = names
    (out / results_name).write_text(json.dumps(results, indent=1) + "\n")
    (out / report_name).write_text(render(results))


def measure_and_save(
    results: dict,
    measure: Callable[[Callable[[], None]], None],
    write: Callable[[dict], None],
    fleet_down: Callable[[], None],
    keep: bool,
) -> None:
    """Run measure(save), where save() writes the results so far (with the seconds spent),
    then save once more and bring the fleet down unless keep. A failure stays in the results,
    beside what was measured before it, and is raised again."""
    began = time.monotonic()

    def save() -> None:
        results["duration_seconds"] = round(time.monotonic() - began, 1)
        write(results)

    try:
        on_fleet(lambda: measure(save), fleet_down, keep)
    except Exception as error:
        results["failure"] = {"error": str(error)[-3000:]}
        raise
    finally:
        save()


def on_fleet(measure: Callable[[], None], fleet_down: Callable[[], None], keep: bool) -> None:
    """Measure, then bring the fleet down unless keep, even when measuring failed."""
    try:
        measure()
    finally:
        if not keep:
            fleet_down()
