"""The benchmark report: plots and README.md from synthetic results, full and partial."""

from __future__ import annotations

import copy
import json
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bench.report import write_report

REPO_ROOT = Path(__file__).resolve().parents[2]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
PLOTS = (
    "connections_per_process.png",
    "connections_per_process_deploy.png",
    "reconnect_delays.png",
    "latency.png",
)
PROCESSES = [("app1", 1), ("app1", 2), ("app2", 1), ("app2", 2)]


def latency_path(rng: random.Random, median_ms: float) -> dict[str, Any]:
    samples = sorted(rng.lognormvariate(0, 0.5) * median_ms for _ in range(300))
    return {
        "p50": samples[149],
        "p90": samples[269],
        "p99": samples[296],
        "p999": samples[299],
        "max": samples[299],
        "samples": samples,
    }


def load_report(rng: random.Random, clients: int, *, lost: int = 0) -> dict[str, Any]:
    delays = [rng.uniform(0.05, 1.2) for _ in range(clients)]
    return {
        "clients": clients,
        "rate": 1.0,
        "handshakes_ok": 2 * clients,
        "handshakes_failed": 0,
        "handshake_failures": {},
        "server_closes": {"1012": clients - 3, "1001": 3},
        "abnormal_closures": 0,
        "reconnects": clients,
        "reconnect_delay": {"p50": 0.6, "p90": 1.0, "p99": 1.2, "max": 1.2},
        "reconnect_delays": delays,
        "messages_sent": 50 * clients,
        "messages_resent": 40,
        "messages_acknowledged": 50 * clients - lost,
        "messages_lost": lost,
        "duplicates": 0,
        "latency": {"p50": 0.002, "p90": 0.004, "p99": 0.01, "p999": 0.02, "max": 0.05},
        "timeline": [],
    }


def under_load_run(rng: random.Random, clients: int) -> dict[str, Any]:
    """Each process restarts in turn; its clients move to the others meanwhile."""
    per_process = clients // len(PROCESSES)
    restarts = [
        {"host": host, "process": process, "stopped_at": 3.0 + 4 * i, "healthy_at": 3.7 + 4 * i}
        for i, (host, process) in enumerate(PROCESSES)
    ]
    connections = {}
    for restart in restarts:
        name = f"{restart['host']}/{restart['process']}"
        points = []
        for step in range(41):
            second = step / 2
            down = restart["stopped_at"] <= second < restart["healthy_at"] + 1
            points.append([second, 0 if down else per_process + rng.randint(-5, 5)])
        connections[name] = points
    return {
        "clients": clients,
        "rate": 1.0,
        "wall_seconds": 20.0,
        "load": load_report(rng, clients),
        "restarts": restarts,
        "connections": connections,
    }


def restart_mode(wall: float, floor: float) -> dict[str, Any]:
    steps = [
        {"host": host, "process": process, "drain_seconds": 0.06, "start_to_healthy_seconds": 0.6}
        for host, process in PROCESSES
    ]
    return {"wall_seconds": wall, "floor_seconds": floor, "ratio": wall / floor, "steps": steps}


def header() -> dict[str, Any]:
    return {
        "command": "python -m bench.run --out docs/benchmarks",
        "started": "2026-11-24T00:15:00Z",
        "machine": {"cpus": 2, "memory_gib": 24, "os": "Debian GNU/Linux 12", "python": "3.11.7"},
    }


def full_results(*, ratio: float = 4.9) -> dict[str, Any]:
    rng = random.Random(1234)
    return {
        **header(),
        "duration_seconds": 900.0,
        "fleet": {"app_hosts": 2, "processes_per_host": 2, "edge_hosts": 1},
        "ansible": {
            "first_converge_seconds": 60.1,
            "noop_seconds": 22.0,
            "noop_changed": 0,
            "noop_seconds_without_pipelining": 30.0,
            "rolling_restart": {
                "pipelining": restart_mode(4.0 * ratio, 4.0),
                "no_pipelining": restart_mode(30.0, 4.0),
            },
        },
        "rolling_restart_under_load": under_load_run(rng, 2000),
        "deploy_under_load": under_load_run(rng, 2000),
        "capacity": {
            "target": 8000,
            "edge": {
                "held": 8000,
                "first_error": None,
                "steps": [[count, True] for count in range(1000, 8001, 1000)],
            },
            "memory": {
                "compression_on": {
                    "connections": 3000,
                    "rss_before_kib": 20000,
                    "rss_after_kib": 80000,
                    "per_connection_kib": 20.0,
                },
                "compression_off": {
                    "connections": 3000,
                    "rss_before_kib": 20000,
                    "rss_after_kib": 41000,
                    "per_connection_kib": 7.0,
                },
            },
        },
        "latency": {
            "edge_tls": latency_path(rng, 2.0),
            "app_host_nginx": latency_path(rng, 0.8),
            "process_direct": latency_path(rng, 0.3),
        },
    }


def targets(readme: str) -> list[list[str]]:
    """The rows of the targets table as cells: target, measured, met?"""
    section = readme.split("## Targets", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ")][1:]
    return [[cell.strip() for cell in row.strip("|").split(" | ")] for row in rows]


def statuses(readme: str) -> list[str]:
    return [row[2] for row in targets(readme)]


def test_full_results_write_plots_and_readme(tmp_path: Path) -> None:
    written = write_report(full_results(), tmp_path)

    assert sorted(path.name for path in written) == sorted([*PLOTS, "README.md"])
    for name in PLOTS:
        assert (tmp_path / name).read_bytes().startswith(PNG_MAGIC), name
    readme = (tmp_path / "README.md").read_text()
    assert readme.startswith("# ")
    assert (
        "Made by `python -m bench.run --out docs/benchmarks` on 2 CPUs, 24 GiB RAM, "
        "Debian GNU/Linux 12, Python 3.11.7, 2026-11-24T00:15:00Z" in readme
    )
    for name in PLOTS:
        assert f"]({name})" in readme
    for title in ("Rolling restart under load", "Deploy under load", "Ansible speed"):
        assert f"## {title}" in readme
    assert "## Capacity" in readme and "## Latency" in readme
    assert "not measured" not in readme


def test_targets_met_and_missed(tmp_path: Path) -> None:
    write_report(full_results(ratio=4.9), tmp_path)
    readme = (tmp_path / "README.md").read_text()

    assert statuses(readme) == ["met", "missed by 292%", "met", "reported"]
    measured = [row[1] for row in targets(readme)]
    assert measured[0].startswith("0 failed handshakes, 0 abnormal closures, 0 lost messages")
    assert "8,000 held, no error" in measured[2]
    assert "20.0 KiB with compression, 7.0 KiB without" in measured[3]
    # Overhead per step: (19.6 s wall - 4.0 s floor) / 4 steps.
    assert "| with pipelining | 19.6 s | 4.0 s | 4.90 x | 4 | 3.90 s |" in readme


def test_targets_met_when_within_ratio(tmp_path: Path) -> None:
    write_report(full_results(ratio=1.2), tmp_path)
    assert statuses((tmp_path / "README.md").read_text())[1] == "met"


def test_too_few_clients_or_lost_messages_miss(tmp_path: Path) -> None:
    results = full_results()
    run = results["rolling_restart_under_load"]
    run["clients"] = 500
    run["load"]["messages_lost"] = 3
    results["capacity"]["edge"].update(held=3000, first_error="EMFILE at 3,001")

    write_report(results, tmp_path)
    first, _, edge, _ = statuses((tmp_path / "README.md").read_text())
    assert first == "missed: 3 lost messages; only 500 of 2,000 clients were run"
    assert edge == "missed: 3,000 held"


def test_partial_results_say_not_measured(tmp_path: Path) -> None:
    written = write_report(header(), tmp_path)

    assert written == [tmp_path / "README.md"]
    readme = written[0].read_text()
    assert statuses(readme) == ["not measured"] * 4
    assert [row[1] for row in targets(readme)] == ["not measured"] * 4
    assert ".png" not in readme
    assert "(to be written)" in readme


def test_sections_with_missing_keys_do_not_crash(tmp_path: Path) -> None:
    results = full_results()
    del results["rolling_restart_under_load"]["load"]
    del results["ansible"]["rolling_restart"]["pipelining"]
    del results["capacity"]["memory"]
    results["latency"] = {"edge_tls": {"samples": [1.0, 2.0, 3.0]}}

    write_report(results, tmp_path)
    readme = (tmp_path / "README.md").read_text()
    assert statuses(readme) == ["not measured", "not measured", "met", "not measured"]
    assert (tmp_path / "latency.png").read_bytes().startswith(PNG_MAGIC)
    assert not (tmp_path / "reconnect_delays.png").exists()


def test_analysis_is_kept_across_rewrites(tmp_path: Path) -> None:
    write_report(full_results(), tmp_path)
    readme = tmp_path / "README.md"
    analysis = "\nThe restart is bound by Ansible's per-task overhead, not by the drain.\n"
    readme.write_text(readme.read_text().replace("\n(to be written)\n", analysis))

    write_report(full_results(ratio=1.1), tmp_path)
    text = readme.read_text()
    assert f"<!-- analysis -->{analysis}<!-- /analysis -->" in text
    assert "(to be written)" not in text
    assert statuses(text)[1] == "met"


@pytest.mark.parametrize("out", [None, "report"])
def test_command_line(tmp_path: Path, out: str | None) -> None:
    results_file = tmp_path / "results.json"
    results_file.write_text(json.dumps(copy.deepcopy(full_results())))
    args = [sys.executable, "-m", "bench.report", str(results_file)]
    if out:
        args += ["--out", str(tmp_path / out)]

    subprocess.run(args, cwd=REPO_ROOT, check=True, capture_output=True, timeout=120)
    out_dir = tmp_path / out if out else tmp_path
    assert (out_dir / "README.md").is_file()
    assert (out_dir / "latency.png").read_bytes().startswith(PNG_MAGIC)
