"""TLS through a fleet's life, against its real ACME server. Each step runs site.yml with the
step's settings (molecule/tls/vars), then checks from the controller and on the hosts.

The steps depend on each other: tests of one module, run in file order.
"""

import re

from wsfleet_support.checks import edge, monitoring, tls
from wsfleet_support.checks.app import hosts_of
from wsfleet_support.checks.playbooks import PROJECT, changed_counts, run_ok
from wsfleet_support.fleet import molecule_fleet

VARS = PROJECT / "molecule" / "tls" / "vars"
EDGE = hosts_of("edge")[0]
APPS = hosts_of("app")
# Handshakes fired at once against a limit of 1 per second with a burst of 3.
FLOOD_SIZE = 20
# Client addresses sending 2 handshakes each at once: within that limit, each of them.
CLIENT_ADDRESSES = 20


def site(*vars_files, limit=None):
    """site.yml with the settings of these files of molecule/tls/vars, in order."""
    options = [option for name in vars_files for option in ("--extra-vars", f"@{VARS / name}")]
    return run_ok("site.yml", *options, *(["--limit", limit] if limit else []))


def edge_site(*vars_files):
    """site.yml on the edge alone: the steps that change only the edge."""
    return site(*vars_files, limit=EDGE)


def nginx_master_pid(name):
    return edge.remote(name).check_output("cat /run/nginx.pid")


def test_the_edge_can_serve_a_self_signed_certificate():
    # The edge alone: the scenario before ended with site.yml's defaults on every host.
    edge_site("edge_selfsigned.yml")
    certificate = tls.unverified_certificate(edge.address(EDGE), EDGE)
    assert certificate.issuer == certificate.subject
    assert tls.certificate_names(certificate) == [EDGE]
    edge_host = edge.remote(EDGE)
    assert not edge_host.file("/etc/ssl/wsfleet/fullchain.pem").is_symlink
    assert edge_host.file("/etc/ssl/wsfleet/privkey.pem").mode == 0o600
    # The certificate verifies itself: a client that trusts it gets its echo.
    edge_host.check_output("cp /etc/ssl/wsfleet/fullchain.pem /tmp/self-signed.pem")
    local_copy = tls.fleet_state_dir() / "edge-self-signed.pem"
    local_copy.write_text(edge_host.file("/tmp/self-signed.pem").content_string)
    assert edge.echo_through(EDGE, server_name=EDGE, cafile=str(local_copy)) == "hello"


def issued_certificates(name):
    """How many certificates certbot has obtained on a host (its lineage's archive)."""
    return len(edge.remote(name).check_output("ls /etc/letsencrypt/archive/wsfleet").split())


def test_back_to_acme_the_issued_certificate_returns_without_a_new_request():
    issued = issued_certificates(EDGE)
    edge_site()
    edge_host = edge.remote(EDGE)
    assert edge_host.file("/etc/ssl/wsfleet/fullchain.pem").linked_to.startswith(
        "/etc/letsencrypt/"
    )
    assert issued_certificates(EDGE) == issued
    certificate = tls.peer_certificate(edge.address(EDGE), tls.fleet_name(EDGE))
    assert tls.certificate_names(certificate) == tls.edge_certificate_names(EDGE)


def test_app_hosts_end_tls_and_the_edge_verifies_each_by_name():
    site("tls_everywhere.yml")
    for name in APPS:
        # Each app host serves its own Pebble certificate, and serves clients directly.
        certificate = tls.peer_certificate(edge.address(name), tls.fleet_name(name))
        assert tls.certificate_names(certificate) == [tls.fleet_name(name)]
        assert edge.echo_through(name) == "hello"
        status, _ = tls.http_get(edge.address(name), tls.fleet_name(name))
        assert status == 301
    assert tls.mozilla_intermediate_issues(edge.address(APPS[0]), tls.fleet_name(APPS[0])) == {}
    # Through the edge: enough sessions to reach every app host, each over verified TLS.
    edge_host = edge.remote(EDGE)
    edge_host.check_output("truncate -s 0 /var/log/nginx/access.log")
    for number in range(4 * len(APPS)):
        assert edge.echo_through(EDGE, message=f"m{number}") == f"m{number}"
    log = edge_host.check_output("cat /var/log/nginx/access.log")
    reached = set(re.findall(r'" 101 .* upstream=(\S+):443 ust=101', log))
    assert reached == {edge.address(name) for name in APPS}


def test_the_edge_refuses_a_backend_whose_certificate_has_another_name():
    edge_host = edge.remote(EDGE)
    edge_site("wrong_backend_name.yml")
    edge_host.check_output("truncate -s 0 /var/log/nginx/access.log /var/log/nginx/error.log")
    # Clients still get through: a refused backend is skipped by proxy_next_upstream.
    for number in range(4 * len(APPS)):
        assert edge.echo_through(EDGE, message=f"m{number}") == f"m{number}"
    errors = edge_host.check_output("cat /var/log/nginx/error.log")
    assert 'upstream SSL certificate does not match "impostor.wsfleet.test"' in errors
    access = edge_host.check_output("cat /var/log/nginx/access.log")
    served_by = set(re.findall(r"upstream=(?:\S+, )*(\S+):443 ust=(?:\S+, )*101", access))
    assert edge.address(APPS[0]) not in served_by
    edge_site("tls_everywhere.yml")


def test_a_new_domain_list_gets_a_new_certificate_once():
    # The app hosts still end TLS (previous step): the edge keeps reaching them over TLS.
    issued = issued_certificates(EDGE)
    edge_site("tls_everywhere.yml", "two_names.yml")
    # Each issuance adds a certificate, a chain, a full chain and a key to the archive.
    assert issued_certificates(EDGE) == issued + 4
    certificate = tls.peer_certificate(edge.address(EDGE), tls.fleet_name(EDGE))
    assert tls.certificate_names(certificate) == sorted(
        [tls.fleet_name(EDGE), f"ws.{tls.fleet_name(EDGE)}"]
    )
    assert edge.echo_through(EDGE, server_name=f"ws.{tls.fleet_name(EDGE)}") == "hello"
    again = edge_site("tls_everywhere.yml", "two_names.yml")
    assert changed_counts(again.stdout)[EDGE] == 0
    assert issued_certificates(EDGE) == issued + 4


def test_a_renewal_by_the_timers_service_reloads_nginx_without_dropping_websockets():
    # A reload, not a restart: the same master process, the new certificate served.
    edge.renewal_under_an_open_websocket(EDGE, lambda: nginx_master_pid(EDGE))


def test_a_handshake_flood_from_one_address_gets_429():
    # Every host: the app hosts' NGINX gets the tight limits too (next test), and their
    # processes a small cap (the test after).
    site("tls_everywhere.yml", "two_names.yml", "tight_limits.yml", "small_cap.yml")
    statuses = edge.handshake_flood(EDGE, FLOOD_SIZE)
    assert set(statuses) == {101, 429}
    # At most the burst and the rate's share pass; most of a sudden flood is refused.
    assert statuses.count(429) >= FLOOD_SIZE // 2
    # HSTS goes with every HTTPS response, refusals included.
    _, headers, _ = tls.https_get(edge.address(EDGE), tls.fleet_name(EDGE))
    assert headers["Strict-Transport-Security"] == "max-age=63072000"


def test_the_app_hosts_limit_and_log_each_client_not_the_edge():
    # Clients on the public network, the edge reaching the app hosts from its private address:
    # the app hosts' NGINX trusts X-Forwarded-For from every address of the edge.
    sources, statuses, logged = edge.burst_from_many_addresses(
        EDGE, APPS, "nginx", CLIENT_ADDRESSES
    )
    # Far more than one address's burst in all, within it from each: nobody is refused.
    assert statuses.count(101) == len(statuses), statuses
    assert set(sources) <= logged, logged
    assert molecule_fleet().private_address(EDGE) not in logged


def test_a_full_fleet_answers_503_with_retry_after_and_serves_again():
    # One handshake from each client address (NGINX's burst of 3 lets 4 at once from one, and
    # the test before used some already): refused only for being full.
    capacity = edge.fleet_capacity(APPS)
    near_cap = []
    with molecule_fleet().client_addresses(capacity + 2) as sources:
        full = edge.fill_the_fleet(
            EDGE, capacity, sources, while_full=lambda: near_cap.append(_near_cap_alerts())
        )
    assert full == edge.A_FULL_FLEET
    # While full, Prometheus fired WsfleetProcessNearCap for every process, and Alertmanager
    # got it; once the clients left, it cleared.
    every_process = set(monitoring.expected_targets("nginx")["app"])
    assert near_cap == [(every_process, every_process)]
    monitoring.wait_until(lambda: not monitoring.active("WsfleetProcessNearCap"), "cleared")


def _near_cap_alerts():
    """The processes WsfleetProcessNearCap fires for in Prometheus, once it fires for every
    one, and those Alertmanager got."""
    every_process = set(monitoring.expected_targets("nginx")["app"])

    def processes(alerts):
        return {(("host", alert["host"]), ("slot", alert["slot"])) for alert in alerts}

    in_prometheus = monitoring.wait_until(
        lambda: (
            processes(monitoring.firing("WsfleetProcessNearCap")) == every_process
            and processes(monitoring.firing("WsfleetProcessNearCap"))
        ),
        "firing for every process",
    )
    in_alertmanager = monitoring.wait_until(
        lambda: (
            processes(monitoring.alertmanager_alerts("WsfleetProcessNearCap")) == every_process
            and processes(monitoring.alertmanager_alerts("WsfleetProcessNearCap"))
        ),
        "in Alertmanager for every process",
    )
    return in_prometheus, in_alertmanager


def test_back_to_the_site_defaults():
    site()
    assert edge.echo_through(EDGE) == "hello"
    for name in APPS:
        assert edge.remote(name).socket("tcp://0.0.0.0:443").is_listening is False
