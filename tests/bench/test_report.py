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

from bench.report import results_figures, write_report

REPO_ROOT = Path(__file__).resolve().parents[2]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
PLOTS = (
    "connections_per_process.png",
    "connections_per_process_deploy.png",
    "connections_surge_by_hand.png",
    "connections_all_at_once.png",
    "connections_one_by_one.png",
    "reconnect_delays.png",
    "latency.png",
)
PROCESSES = [("app1", 1), ("app1", 2), ("app2", 1), ("app2", 2)]
TARGET_COUNT = 10


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


def sides_replaced(rng: random.Random, per_process: int) -> tuple[dict, list[dict]]:
    """Open connections of each side and its events: each process replaced by surge in turn,
    the new side up, then the old one gone; its clients come back to the new side."""
    connections, events = {}, []
    for i, (host, slot) in enumerate(PROCESSES):
        up, gone = 3.0 + 4 * i, 3.5 + 4 * i
        old = [[step / 2, per_process + rng.randint(-5, 5)] for step in range(int(2 * gone))]
        old += [[step / 2, -1] for step in range(int(2 * gone), 41)]
        new = [
            [step / 2, 0 if step / 2 < gone + 1 else per_process] for step in range(6 + 8 * i, 41)
        ]
        connections[f"{host}/{slot}a"], connections[f"{host}/{slot}b"] = old, new
        events += [
            {"host": host, "socket": f"{slot}b", "event": "up", "at": up},
            {"host": host, "socket": f"{slot}a", "event": "gone", "at": gone},
        ]
    return connections, events


def snapshot(counts: list[int], side: str) -> dict[str, Any]:
    names = [f"{host}/{slot}{side}" for host, slot in PROCESSES]
    return {"at": 10.0, "connections": dict(zip(names, counts, strict=True))}


def module_steps(start_to_healthy: float = 0.5, drain: float = 0.06) -> list[dict[str, Any]]:
    return [
        {
            "host": host,
            "process": process,
            "action": "replace",
            "phase": "rollout",
            "old_side": "a",
            "new_side": "b",
            "connections_before": 500,
            "drain_seconds": drain,
            "start_to_healthy_seconds": start_to_healthy,
            "gate_passed": True,
        }
        for host, process in PROCESSES
    ]


def rollout(wall: float, host_seconds: float = 1.5) -> dict[str, Any]:
    """A rollout playbook's record: 2 host batches of 2 processes each."""
    return {
        "wall_seconds": wall,
        "serial": "1",
        "batches": [["app1"], ["app2"]],
        "hosts": {
            host: {"outcome": "done", "mode": "surge", "seconds": host_seconds}
            for host in ("app1", "app2")
        },
        "steps": module_steps(),
    }


def under_load_run(rng: random.Random, clients: int, wall: float = 20.0) -> dict[str, Any]:
    connections, events = sides_replaced(rng, clients // len(PROCESSES))
    return {
        "clients": clients,
        "rate": 1.0,
        **rollout(wall),
        "load": load_report(rng, clients),
        "balance_before": snapshot([500, 500, 500, 500], "a"),
        "balance_after": snapshot([600, 400, 500, 500], "b"),
        "socket_events": events,
        "connections": connections,
    }


def baseline_run(rng: random.Random, clients: int, failed: int) -> dict[str, Any]:
    connections, events = sides_replaced(rng, clients // len(PROCESSES))
    load = load_report(rng, clients)
    load.update(handshakes_failed=failed, handshake_failures={"502": failed})
    return {
        "clients": clients,
        "rate": 1.0,
        "wall_seconds": 3.0,
        "load": load,
        "balance_before": snapshot([500, 500, 500, 500], "a"),
        "balance_after": snapshot([900, 100, 500, 500], "a"),
        "socket_events": events,
        "connections": connections,
    }


def restart_mode(wall: float, floor: float) -> dict[str, Any]:
    return {**rollout(wall), "floor_seconds": floor, "ratio": wall / floor}


def floor_steps(total: float) -> list[dict[str, Any]]:
    each = total / len(PROCESSES)
    return [
        {
            "host": host,
            "process": process,
            "start_to_healthy_seconds": each * 0.6,
            "switch_seconds": 0.0,
            "drain_seconds": each * 0.4,
            "total_seconds": each,
        }
        for host, process in PROCESSES
    ]


def large_fleet(wall: float = 40.0) -> dict[str, Any]:
    hosts = [f"app{number}" for number in range(1, 9)]
    steps = [
        {"host": host, "process": slot, "action": "replace", "drain_seconds": 0.05,
         "start_to_healthy_seconds": 0.4}
        for host in hosts
        for slot in range(1, 5)
    ]  # fmt: skip
    restart = {
        "wall_seconds": wall,
        "serial": "25%",
        "batches": [hosts[index : index + 2] for index in range(0, 8, 2)],
        "hosts": {host: {"seconds": 2.0 + number / 10} for number, host in enumerate(hosts)},
        "steps": steps,
        "floor_seconds": 8.0,
        "ratio": wall / 8.0,
    }
    return {
        "app_hosts": 8,
        "processes_per_host": 4,
        "floor_seconds": 8.0,
        "floor_steps": [],
        "rolling_restart": restart,
    }


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
            "floor_seconds": 4.0,
            "floor_steps": floor_steps(4.0),
            "rolling_restart": {
                "pipelining": restart_mode(4.0 * ratio, 4.0),
                "no_pipelining": restart_mode(30.0, 4.0),
            },
        },
        "rolling_restart_under_load": under_load_run(rng, 2000),
        "deploy_under_load": under_load_run(rng, 2000, wall=60.0),
        "baselines_under_load": {
            "surge_by_hand": {
                **baseline_run(rng, 2000, 0),
                "floor_seconds": 2.0,
                "floor_steps": floor_steps(2.0),
            },
            "restart_all_at_once": baseline_run(rng, 2000, 700),
            "restart_one_by_one": baseline_run(rng, 2000, 40),
        },
        "large_fleet": large_fleet(),
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
    for title in (
        "Rolling restart under load",
        "Deploy under load",
        "Without the collection, under the same load",
        "Ansible speed",
        "Scaling",
        "Capacity",
        "Latency",
    ):
        assert f"## {title}" in readme
    assert "not measured" not in readme


def test_targets_met_and_missed(tmp_path: Path) -> None:
    write_report(full_results(ratio=4.9), tmp_path)
    readme = (tmp_path / "README.md").read_text()

    assert statuses(readme) == [
        "met",
        "missed by 292%",
        "met",
        "reported",
        *["met"] * 4,  # closes per client and balance of the rolling restart and the deploy
        "missed by 2900%",  # (20 s wall - 2 s floor under load) / 4 = 4.5 s per restart
        "missed by 233%",  # 20 s / 2 s = 10 x
    ]
    measured = [row[1] for row in targets(readme)]
    assert measured[0].startswith("0 failed handshakes, 0 abnormal closures, 0 lost messages")
    assert "8,000 held, no error" in measured[2]
    assert "20.0 KiB with compression, 7.0 KiB without" in measured[3]
    assert measured[4] == "1.00 (2,000 server closes, 2,000 clients)"
    assert measured[5] == "1.20 (max 600, mean 500, 4 processes)"
    assert measured[8] == "4.50 s ((20.0 s wall - 2.0 s floor) / 4 process restarts)"
    # (19.6 s wall - 4.0 s floor) per process restart and per host batch; the module's
    # 1.5 s per host on the critical path, the rest Ansible's.
    assert (
        "| with pipelining | 19.6 s | 4.0 s | 4.90 x | 4 | 2 | 3.90 s | 7.80 s | 3.0 s | 16.6 s |"
        in readme
    )


def test_targets_met_when_within_ratio(tmp_path: Path) -> None:
    write_report(full_results(ratio=1.2), tmp_path)
    assert statuses((tmp_path / "README.md").read_text())[1] == "met"


def test_under_load_targets_met(tmp_path: Path) -> None:
    results = full_results()
    results["rolling_restart_under_load"]["wall_seconds"] = 2.4

    write_report(results, tmp_path)
    assert statuses((tmp_path / "README.md").read_text())[8:] == ["met", "met"]


def test_closes_and_balance_missed(tmp_path: Path) -> None:
    results = full_results()
    results["deploy_under_load"]["load"]["server_closes"] = {"1012": 2600, "1006": 100}
    results["deploy_under_load"]["balance_after"] = snapshot([900, 100, 500, 500], "b")

    write_report(results, tmp_path)
    assert statuses((tmp_path / "README.md").read_text())[6:8] == [
        "missed by 29%",  # 2,700 closes / 2,000 clients = 1.35
        "missed by 44%",  # 900 / 500 = 1.8
    ]


def test_too_few_clients_or_lost_messages_miss(tmp_path: Path) -> None:
    results = full_results()
    run = results["rolling_restart_under_load"]
    run["clients"] = 500
    run["load"]["messages_lost"] = 3
    results["capacity"]["edge"].update(held=3000, first_error="EMFILE at 3,001")

    write_report(results, tmp_path)
    first, _, edge, *_ = statuses((tmp_path / "README.md").read_text())
    assert first == "missed: 3 lost messages; only 500 of 2,000 clients were run"
    assert edge == "missed: 3,000 held"


def test_figures_from_the_raw_results() -> None:
    figures = results_figures(full_results())

    no_load = figures["rolling_restart_pipelining"]
    assert no_load["process_restarts"] == 4 and no_load["batches"] == 2
    assert no_load["overhead_per_restart_seconds"] == pytest.approx(3.9)
    assert no_load["overhead_per_batch_seconds"] == pytest.approx(7.8)
    assert no_load["module_seconds"] == pytest.approx(3.0)
    assert no_load["ansible_seconds"] == pytest.approx(16.6)
    assert no_load["process_step_seconds"] == pytest.approx(4 * 0.56)
    # Under load, against the floor under the same load (the surge by hand).
    rolling = figures["rolling_restart_under_load"]
    assert rolling["floor_seconds"] == 2.0 and rolling["ratio"] == pytest.approx(10.0)
    assert rolling["closes_per_client"] == pytest.approx(1.0)
    assert rolling["balance_before"] == pytest.approx(1.0)
    assert rolling["balance_after"] == pytest.approx(1.2)
    assert figures["restart_all_at_once_under_load"]["balance_after"] == pytest.approx(1.8)
    # Hosts of a batch roll out side by side: the slowest one of each batch counts.
    large = figures["large_fleet_rolling_restart"]
    assert large["batches"] == 4 and large["process_restarts"] == 32
    assert large["module_seconds"] == pytest.approx(2.1 + 2.3 + 2.5 + 2.7)
    assert large["wall_per_batch_seconds"] == pytest.approx(10.0)
    assert large["wall_per_restart_seconds"] == pytest.approx(1.25)


def test_figures_without_the_floor_under_load_use_the_one_without_load() -> None:
    results = full_results()
    del results["baselines_under_load"]

    figures = results_figures(results)
    assert figures["rolling_restart_under_load"]["floor_seconds"] == 4.0
    assert "restart_all_at_once_under_load" not in figures


def test_analysis_states_targets_and_where_the_time_goes(tmp_path: Path) -> None:
    write_report(full_results(ratio=4.9), tmp_path)
    readme = (tmp_path / "README.md").read_text()
    analysis = readme.split("## Analysis", 1)[1].split("<!-- analysis -->", 1)[0]

    assert f"Targets met: 7 of {TARGET_COUNT}. Missed: rolling restart wall time" in analysis
    assert (
        "Rolling restart without load (pipelining): 19.6 s wall over 2 host batches and "
        "4 process restarts. The app_rollout module ran 3.0 s of it on the hosts" in analysis
    )
    assert "The other 16.6 s (85% of the wall) are Ansible's per-task and per-batch" in analysis
    assert "the module's start to healthy (its gate included) averages 0.50 s" in analysis
    assert "against the floor's 0.60 s, its drain 0.06 s against 0.40 s" in analysis
    assert "it follows the host batches" in analysis


def test_scaling_follows_the_processes_when_wall_grows_with_them(tmp_path: Path) -> None:
    results = full_results()
    results["large_fleet"] = large_fleet(wall=150.0)

    write_report(results, tmp_path)
    readme = (tmp_path / "README.md").read_text()
    scaling = readme.split("## Scaling", 1)[1].split("\n## ", 1)[0]
    assert "| 8 hosts x 4 processes | 25% | 4 | 32 | 150.0 s | 37.5 s | 4.69 s |" in scaling
    assert "| 2 hosts x 2 processes | 1 | 2 | 4 | 19.6 s | 9.8 s | 4.90 s |" in scaling
    assert "it follows the processes (hosts x processes)" in scaling


def test_baselines_side_by_side(tmp_path: Path) -> None:
    write_report(full_results(), tmp_path)
    readme = (tmp_path / "README.md").read_text()
    baselines = readme.split("## Without the collection", 1)[1].split("\n## ", 1)[0]

    assert (
        "|  | rolling restart under load (collection) | deploy under load (collection) | "
        "surge by hand (floor, no Ansible) | all restarted at once | one at a time, no gate |"
        in baselines
    )
    assert "| failed handshakes | 0 | 0 | 0 | 700 | 40 |" in baselines
    assert "| balance after | 1.20 | 1.20 | 1.80 | 1.80 | 1.80 |" in baselines


def test_partial_results_say_not_measured(tmp_path: Path) -> None:
    written = write_report(header(), tmp_path)

    assert written == [tmp_path / "README.md"]
    readme = written[0].read_text()
    assert statuses(readme) == ["not measured"] * TARGET_COUNT
    assert [row[1] for row in targets(readme)] == ["not measured"] * TARGET_COUNT
    assert ".png" not in readme
    assert "(to be written)" in readme
    assert "Not measured (`python -m bench.run --large`)." in readme


def test_sections_with_missing_keys_do_not_crash(tmp_path: Path) -> None:
    results = full_results()
    del results["rolling_restart_under_load"]["load"]
    del results["rolling_restart_under_load"]["balance_after"]
    del results["ansible"]["rolling_restart"]["pipelining"]
    del results["deploy_under_load"]["batches"]
    del results["baselines_under_load"]["restart_one_by_one"]
    del results["capacity"]["memory"]
    results["large_fleet"]["rolling_restart"]["hosts"] = {}
    results["latency"] = {"edge_tls": {"samples": [1.0, 2.0, 3.0]}}

    write_report(results, tmp_path)
    readme = (tmp_path / "README.md").read_text()
    assert statuses(readme)[:6] == [
        "not measured",
        "not measured",
        "met",
        "not measured",
        "not measured",
        "not measured",
    ]
    assert (tmp_path / "latency.png").read_bytes().startswith(PNG_MAGIC)
    assert not (tmp_path / "reconnect_delays.png").exists()
    assert not (tmp_path / "connections_one_by_one.png").exists()


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
