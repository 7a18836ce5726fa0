"""The edge after site.yml: TLS from the fleet's ACME server, and a real client on the
controller getting its echo through it over wss://."""

import json
import re
import time

import pytest
from websockets.exceptions import InvalidStatus

from wsfleet_support.checks import app, tls
from wsfleet_support.checks.app import hosts_of
from wsfleet_support.checks.edge import echo_many, echo_through
from wsfleet_support.fleet import SHARED_NAME

testinfra_hosts = hosts_of("edge")


def edge_address(host):
    return host.ansible.get_variables()["ansible_host"]


def test_edge_nginx_balances_every_app_host(host):
    assert host.run("nginx -t").rc == 0
    config = host.file("/etc/nginx/nginx.conf").content_string
    app_hosts = hosts_of("app")
    # The app hosts' upstream only (others carry ACME challenges to certbot and the other edges).
    upstream = re.search(r"upstream wsfleet_edge \{(.*?)\n    \}", config, flags=re.DOTALL)
    servers = re.findall(r"^\s*server (\S+) max_fails=0;$", upstream[1], flags=re.MULTILINE)
    assert len(servers) == len(app_hosts)
    assert all(server.endswith(":80") for server in servers)


def test_the_edge_serves_a_certificate_issued_by_the_acme_server(host):
    # peer_certificate verifies the chain against Pebble's root and the name.
    certificate = tls.peer_certificate(edge_address(host), tls.fleet_name(host.backend.host))
    assert tls.certificate_names(certificate) == tls.edge_certificate_names(host.backend.host)
    assert "Pebble" in certificate.issuer.rfc4514_string()


def test_nginx_reads_the_certificate_certbot_keeps(host):
    # The links name certbot's live/ files, which follow every renewal.
    for name in ("fullchain.pem", "privkey.pem"):
        link = host.check_output(f"readlink /etc/ssl/wsfleet/{name}")
        assert link == f"/etc/letsencrypt/live/wsfleet/{name}"


def test_the_edge_meets_mozilla_intermediate(host):
    assert (
        tls.mozilla_intermediate_issues(edge_address(host), tls.fleet_name(host.backend.host)) == {}
    )


def test_every_https_response_carries_hsts(host):
    name = tls.fleet_name(host.backend.host)
    for path in ("/healthz", "/no-such-path"):
        status, headers, _ = tls.https_get(edge_address(host), name, path)
        assert status in (200, 404)
        assert headers["Strict-Transport-Security"] == "max-age=63072000"


def test_http_redirects_to_https_except_acme_challenges(host):
    name = tls.fleet_name(host.backend.host)
    status, headers = tls.http_get(edge_address(host), name, "/chat?room=1")
    assert status == 301
    assert headers["Location"] == f"https://{name}/chat?room=1"
    # Challenges go, unredirected, to certbot's own server on loopback, which runs only while it
    # proves a name: a stand-in serves a token there for the test.
    folder = "/tmp/challenge-server"
    challenges = f"{folder}/.well-known/acme-challenge"
    host.check_output(f"mkdir -p {challenges} && echo token > {challenges}/probe")
    host.check_output(
        f"systemd-run --unit=challenge-server --property=WorkingDirectory={folder} "
        "python3 -m http.server --bind 127.0.0.1 8402"
    )
    try:
        assert wait_for_http_status(edge_address(host), name, "/.well-known/acme-challenge/probe")
    finally:
        host.run("systemctl stop challenge-server")
        host.check_output(f"rm -rf {folder}")


def wait_for_http_status(address, name, path, status=200, attempts=50):
    """Whether path answers status within attempts tenths of a second (the server starting)."""
    for _ in range(attempts):
        if tls.http_get(address, name, path)[0] == status:
            return True
        time.sleep(0.1)
    return False


def test_the_redirect_never_names_a_host_the_client_made_up(host):
    status, headers = tls.http_get(edge_address(host), "evil.example.net", "/chat")
    assert status == 301
    # The first of the edge's names: the one its floating addresses share.
    assert headers["Location"] == f"https://{SHARED_NAME}/chat"


def test_a_page_of_another_site_cannot_open_a_websocket(host):
    name = host.backend.host
    with pytest.raises(InvalidStatus) as refused:
        echo_through(name, origin="https://evil.example.net")
    assert refused.value.response.status_code == 403
    # The site's own pages, and clients that send no Origin, get through.
    for options in ({"origin": f"https://{tls.fleet_name(name)}"}, {}):
        assert echo_through(name, **options) == "hello"


def test_renewal_runs_from_certbots_timer_with_the_reload_hook(host):
    assert host.service("certbot.timer").is_enabled
    assert host.service("certbot.timer").is_running
    hook = host.file("/etc/letsencrypt/renewal-hooks/deploy/50-wsfleet-reload-router")
    assert hook.mode == 0o755
    assert "systemctl reload nginx.service" in hook.content_string
    environment = host.check_output("systemctl show certbot.service --property Environment")
    assert "REQUESTS_CA_BUNDLE=/etc/letsencrypt/wsfleet-acme-server-ca.pem" in environment


def test_websocket_echo_through_the_edge(host):
    messages = [f"message {number}" for number in range(20)]
    assert echo_many(host.backend.host, messages) == messages


def test_healthz_through_the_edge(host):
    status, _, body = tls.https_get(edge_address(host), tls.fleet_name(host.backend.host))
    assert status == 200
    health = json.loads(body)
    assert health["status"] == "ok"
    assert health["version"] == "1.0.0"


def test_the_apps_metrics_are_not_served_to_clients(host):
    status, _, body = tls.https_get(
        edge_address(host), tls.fleet_name(host.backend.host), "/metrics"
    )
    assert (status, b"wsfleet_app" in body) == (404, False)


def test_edge_hides_the_nginx_version(host):
    _, headers, _ = tls.https_get(edge_address(host), tls.fleet_name(host.backend.host))
    assert headers["Server"] == "nginx"
    _, headers = tls.http_get(edge_address(host), tls.fleet_name(host.backend.host))
    assert headers["Server"] == "nginx"


def test_the_edges_exporters_answer_the_monitoring_sources(host):
    address = host.ansible.get_variables()["ansible_host"]
    assert "node_systemd_unit_state" in app.names(app.scrape(address, app.NODE_EXPORTER_PORT))
    assert "nginx_connections_active" in app.names(app.scrape(address, app.NGINX_EXPORTER_PORT))
    # NGINX's counters go to the local exporter only.
    stub_status = host.run(
        app.probe_command(host, "get", address, app.METRICS_PORT, "/stub_status")
    )
    assert "answered 403" in stub_status.stderr
