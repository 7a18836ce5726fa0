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


def test_every_fault_measured_gets_its_table():
    results = {"edge_nginx_killed": sample(back_after_seconds=1.31)}
    text = faults.render(results, "2 cores, 23 GiB")
    assert "The edge's NGINX killed with SIGKILL" in text
    assert "| abnormal closures (1006) | 120 |" in text
    assert "| edge answering again after (s) | 1.31 |" in text
    assert "| reconnect delay p50 / p99 (s) | 0.40 / 1.20 |" in text
    assert faults.COMMAND in text


def test_faults_not_measured_are_named():
    text = faults.render({"crash_looping_release": sample()}, "2 cores")
    assert "Not measured in this run: edge_nginx_killed" in text


def test_render_only_reads_the_figures_beside_the_report(tmp_path):
    (tmp_path / "faults.json").write_text(json.dumps({"full_disk_during_deploy": sample()}))
    assert faults.main(["--out", str(tmp_path), "--render-only"]) == 0
    assert "releases filesystem full" in (tmp_path / "faults.md").read_text()
