"""bench/reloads.py without a fleet: what it asks the roles for, what it reads from the edge, the
figures and targets from fixed results, and the report. Nothing here asserts a timing."""

from __future__ import annotations

import json

import pytest

from bench import reloads


def test_each_policy_sets_the_bound_and_the_spread():
    assert json.loads(reloads.policy_vars("never", 75, 30)) == {
        "wsfleet_router_shutdown_timeout": 0,
        "wsfleet_haproxy_close_spread": 0,
    }
    assert json.loads(reloads.policy_vars("all_at_once", 75, 30)) == {
        "wsfleet_router_shutdown_timeout": 75,
        "wsfleet_haproxy_close_spread": 0,
    }
    assert json.loads(reloads.policy_vars("spread", 75, 30)) == {
        "wsfleet_router_shutdown_timeout": 75,
        "wsfleet_haproxy_close_spread": 30,
    }


SHOW_PROC = """\
#<PID>          <type>          <reloads>       <uptime>        <version>
956             master          2 [failed: 0]   0d00h00m57s     2.6.12-1+deb12u3
# workers
1219            worker          0               0d00h00m02s     2.6.12-1+deb12u3
# old workers
1001            worker          1               0d00h00m56s     2.6.12-1+deb12u3
1000            worker          2               0d00h01m56s     2.6.12-1+deb12u3
# programs

"""


def test_old_haproxy_processes_are_the_old_workers_of_show_proc():
    assert reloads.old_haproxy_processes(SHOW_PROC) == 2
    assert reloads.old_haproxy_processes(SHOW_PROC.split("# old workers")[0]) == 0


def policy(old, pss, abnormal, reconnects_each_second):
    return {
        "old_processes_after": old,
        "pss_after_kib": pss,
        "load": {
            "clients": 100,
            "server_closes": {"1006": abnormal},
            "abnormal_closures": abnormal,
            "messages_lost": 0,
            "handshakes_failed": 0,
            "reconnects_each_second": reconnects_each_second,
        },
    }


RESULTS = {
    "command": "python -m bench.reloads --clients 100",
    "started": "2026-12-04T10:00:00Z",
    "machine": {"cpus": 2, "os": "Debian GNU/Linux 12 (bookworm)"},
    "duration_seconds": 600.0,
    "settings": {
        "clients": 100,
        "rate": 0.2,
        "reloads": 10,
        "reload_interval_seconds": 5.0,
        "bound_seconds": 75,
        "spread_seconds": 30,
        "nginx_workers_per_generation": 2,
    },
    "routers": {
        "haproxy": {
            "reference": {"clients": 100, "pss_kib": 10_000},
            "never": policy(10, 30_000, 0, []),
            "all_at_once": policy(0, 10_500, 100, [0, 60, 40, 0]),
            "spread": policy(0, 10_400, 100, [0, 5, 10, 5, 10, 10]),
        },
        "nginx": {
            "reference": {"clients": 100, "pss_kib": 20_000},
            "never": policy(20, 200_000, 0, []),
            "all_at_once": policy(2, 25_000, 100, [100]),
        },
    },
}


def test_figures_compare_each_policy_with_the_routers_memory_without_reloads():
    figures = reloads.results_figures(RESULTS)
    assert figures["haproxy"]["all_at_once"]["pss_change"] == pytest.approx(0.05)
    assert figures["haproxy"]["all_at_once"]["peak_reconnects_per_second"] == 60
    assert figures["haproxy"]["spread"]["closes_per_client"] == 1.0
    assert figures["nginx"]["never"]["peak_reconnects_per_second"] == 0
    assert "spread" not in figures["nginx"]


def test_targets_count_nginx_generations_by_its_workers_and_compare_the_peaks():
    verdicts = {
        target: met for target, _, met in reloads.targets(reloads.results_figures(RESULTS), 2)
    }
    # Two old NGINX workers are one generation; its memory grew 25%.
    assert (
        verdicts[
            "NGINX, bound, all at once: at most one generation of old processes after the window"
        ]
        == "met"
    )
    assert verdicts["NGINX, bound, all at once: the edge's memory within 10% of before"] == "missed"
    # 10/s against 60/s: a sixth.
    assert (
        verdicts[
            "HAProxy: peak reconnect handshake rate with spreading at most a third of all at once"
        ]
        == "met"
    )


def test_the_histogram_runs_from_the_first_second_with_a_reconnect_to_the_last():
    assert reloads.histogram(RESULTS, "haproxy", "all_at_once") == "from second 1: 60 40"
    assert reloads.histogram(RESULTS, "haproxy", "never") == "none"


def test_the_report_renders_every_policy_measured():
    text = reloads.render(RESULTS)
    assert "| HAProxy | bound, spread | 0 |" in text
    assert "| NGINX | no bound (never) | 20 |" in text
    assert "python -m bench.reloads --clients 100" in text
