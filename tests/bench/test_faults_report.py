"""bench/faults.py renders the faults scenario's figures: synthetic figures, real renderer."""

import json

from bench import faults


def sample(**extra):
    return {
        "clients": 200,
        "handshakes_failed": 3,
        "handshake_failures": {"connection refused": 3},
        "abnormal_closures": 120,
        "server_closes": {"1006": 120},
        "messages_sent": 5000,
        "messages_lost": 0,
        "reconnect_delay": {"p50": 0.4, "p90": 0.9, "p99": 1.2, "max": 1.5},
        **extra,
    }


def test_every_fault_measured_gets_a_column_per_router():
    results = {
        "nginx": {"edge_router_killed": sample(back_after_seconds=1.31)},
        "haproxy": {"edge_router_killed": sample(abnormal_closures=7, back_after_seconds=0.5)},
    }
    text = faults.render(results, "2 cores, 23 GiB")
    assert "The edge's router killed with SIGKILL" in text
    assert "| what | NGINX | HAProxy |" in text
    assert "| abnormal closures (1006) | 120 | 7 |" in text
    assert "| edge answering again after (s) | 1.31 | 0.5 |" in text
    assert "| reconnect delay p50 / p99 (s) | 0.40 / 1.20 | 0.40 / 1.20 |" in text
    assert faults.COMMAND in text


def test_a_fault_one_router_missed_shows_a_dash():
    results = {
        "nginx": {"crash_looping_release": sample()},
        "haproxy": {},
    }
    assert "| failed handshakes | 3 | - |" in faults.render(results, "2 cores")


def test_faults_not_measured_are_named():
    text = faults.render({"nginx": {"crash_looping_release": sample()}}, "2 cores")
    assert "Not measured in this run: edge_host_stopped" in text


def test_render_only_reads_the_figures_beside_the_report(tmp_path):
    figures = {"nginx": {"full_disk_during_deploy": sample()}}
    (tmp_path / "faults.json").write_text(json.dumps(figures))
    assert faults.main(["--out", str(tmp_path), "--render-only"]) == 0
    assert "releases filesystem full" in (tmp_path / "faults.md").read_text()


def test_haproxy_goes_to_the_edge_only():
    arguments = faults.edge_switch("haproxy")
    assert arguments[:2] == ["--", "--extra-vars"]
    value = json.loads(arguments[2])["wsfleet_router"]
    assert "'haproxy' if inventory_hostname in groups[wsfleet_edge_hosts] else 'nginx'" in value
    assert faults.edge_switch("nginx") == []


def test_a_zero_is_a_figure_and_stays():
    text = faults.render({"nginx": {"crash_looping_release": sample(handshakes_failed=0)}}, "2")
    assert "| failed handshakes | 0 |" in text


def test_a_yes_or_no_figure_reads_as_words():
    results = {
        "nginx": {"edge_router_killed": sample(addresses_moved=False)},
        "haproxy": {"edge_router_killed": sample(addresses_moved=True)},
    }
    assert "| its floating addresses moved meanwhile | no | yes |" in faults.render(results, "2")
