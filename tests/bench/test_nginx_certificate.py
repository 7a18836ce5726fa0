"""bench/nginx_certificate.py without a fleet: the nginx.conf its host-side script writes, the
figures from fixed rounds, and the report. Nothing here asserts a timing."""

from __future__ import annotations

import pytest

from bench import nginx_certificate as bench
from wsfleet_support.remote import nginx_certificate as remote

ROLE_CONFIG = """\
worker_processes auto;
http {
    server {
        listen 443 ssl;
        ssl_certificate /etc/ssl/wsfleet/fullchain.pem;
        ssl_certificate_key /etc/ssl/wsfleet/privkey.pem;
    }
}
"""


def test_the_per_handshake_config_reads_both_files_through_variables():
    text = remote.per_handshake_config(ROLE_CONFIG, "/copies/fullchain.pem", "/copies/privkey.pem")
    assert "        ssl_certificate $wsfleet_certificate;\n" in text
    assert "        ssl_certificate_key $wsfleet_certificate_key;\n" in text
    assert "map $ssl_server_name $wsfleet_certificate { default /copies/fullchain.pem; }" in text
    assert "map $ssl_server_name $wsfleet_certificate_key { default /copies/privkey.pem; }" in text
    # The maps go inside http, before anything else of it.
    assert text.index("http {") < text.index("map $ssl_server_name") < text.index("server {")


RESULTS = {
    "command": "python -m bench.nginx_certificate --seconds 20",
    "started": "2026-12-04T10:00:00Z",
    "machine": {"cpus": 2, "os": "Debian GNU/Linux 12 (bookworm)"},
    "settings": {"seconds": 20.0, "handshakers": 32, "rounds": 2},
    "rounds": [
        {"mode": "static", "accepted_per_second": 200.0, "router_cpu_ms_per_attempt": 1.2},
        {"mode": "per_handshake", "accepted_per_second": 150.0, "router_cpu_ms_per_attempt": 3.0},
        {"mode": "static", "accepted_per_second": 180.0, "router_cpu_ms_per_attempt": 1.4},
        {
            "mode": "per_handshake",
            "accepted_per_second": 140.0,
            "router_cpu_ms_per_attempt": 3.5,
            "other_failures": {"timeout": 2},
        },
    ],
    "renewal": {
        "before": {"pids": "10,11,12", "serial": "AB"},
        "after": {"pids": "10,11,12", "serial": "CD"},
    },
}


def test_figures_average_the_rounds_of_each_way():
    figures = bench.results_figures(RESULTS)
    assert figures["static"]["handshakes_per_second"] == 190.0
    assert figures["per_handshake"]["cpu_ms_per_handshake"] == 3.25
    assert figures["per_handshake"]["failures"] == 2
    assert figures["cpu_ratio"] == pytest.approx(3.25 / 1.3)
    assert figures["renewal_same_processes"] is True
    assert figures["renewal_new_certificate"] is True


def test_the_report_compares_both_ways():
    text = bench.render(RESULTS)
    assert "| loaded once per reload (the role's) | 190 | 1.30 ms | 0 |" in text
    assert "| read at every handshake (a variable) | 145 | 3.25 ms | 2 |" in text
    assert "2.50 x the CPU time" in text
